/**
 * The webhook delivery job: POSTs each queued delivery to its webhook, signed
 * (`X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`), and
 * records the outcome. It runs when the database says deliveries were queued
 * (NOTIFY at commit, see `kick`) and on WEBHOOK_TICK, which picks up retries
 * as they fall due and whatever a crash left behind. Any number of instances
 * may run it (SKIP LOCKED); no transaction is open while a request is out.
 */
import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CronJob } from './cronTask.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import { openEventData } from '../models/encryption.js';
import {
  claimDueDeliveries, recordDeliveryAttempt, type ClaimedDelivery, type DeliveryOutcome, type DeliveryStatus,
} from '../models/webhookDeliveries.js';

/** The NOTIFY channel of migration 012's trigger. */
export const WEBHOOKS_CHANNEL = 'carechat_webhooks';

export interface WebhookDeliveryJobOptions {
  db: Database;
  logger: Logger;
  /** Cron expression (six fields allow seconds): config WEBHOOK_TICK. */
  schedule: string;
  /** How long a receiver may take to answer (config WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** A claim's lease: a delivery claimed by a crashed instance is retaken after it. */
  leaseSeconds?: number;
  /** Claimed and sent at once. */
  batchSize?: number;
  /** Only these organizations (sharding by tenant; tests). */
  organizationIds?: readonly string[];
}

/** The body and headers of one delivery; the body is signed as sent, byte for byte. */
export function signedRequest(d: ClaimedDelivery): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({
    id: d.event_id, event: d.event, created_at: new Date(d.event_created_at).toISOString(), organization_id: d.organization_id, data: d.data,
  });
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'CareChat-Webhooks/1.0',
      // The event id: the same on every retry, so a receiver can drop duplicates.
      'X-Webhook-Id': d.event_id,
      'X-Webhook-Event': d.event,
      'X-Webhook-Delivery': d.id,
      'X-Webhook-Attempt': String(d.attempts),
      'X-Webhook-Signature': `sha256=${createHmac('sha256', d.secret).update(body).digest('hex')}`,
    },
  };
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no response within ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

export class WebhookDeliveryJob extends CronJob<number> {
  private kickPending = false;

  constructor(private readonly opts: WebhookDeliveryJobOptions) {
    super({ name: 'webhooks', setting: 'WEBHOOK_TICK', schedule: opts.schedule, logger: opts.logger });
  }

  /** Runs soon (deliveries were queued); kicks while one is waiting to run are one run. */
  kick(): void {
    if (this.kickPending) return;
    this.kickPending = true;
    this.tick().catch((err: unknown) => this.opts.logger.error({ err: { message: (err as Error).message } }, 'webhooks: run failed'));
  }

  /** Sends every due delivery; returns how many were attempted. */
  protected async run(): Promise<number> {
    this.kickPending = false;
    const limit = this.opts.batchSize ?? 20;
    let total = 0;
    for (;;) {
      const claimed = await this.claim({ limit });
      await Promise.all(claimed.map((d) => this.send(d)));
      total += claimed.length;
      if (claimed.length < limit) break;
    }
    return total;
  }

  /** Sends one delivery now if it is due (the test endpoint waits for it); null when another sender has it. */
  async deliverNow(deliveryId: string): Promise<DeliveryStatus | null> {
    const [claimed] = await this.claim({ limit: 1, id: deliveryId });
    return claimed ? this.send(claimed) : null;
  }

  private claim(opts: { limit: number; id?: string }): Promise<ClaimedDelivery[]> {
    return claimDueDeliveries(this.opts.db.knex, {
      leaseSeconds: this.opts.leaseSeconds ?? 60, organizationIds: this.opts.organizationIds, ...opts,
    });
  }

  private async send(d: ClaimedDelivery): Promise<DeliveryStatus | null> {
    const outcome = await this.post(d);
    const recorded = await recordDeliveryAttempt(this.opts.db.knex, d, outcome);
    const status = recorded?.status ?? null;
    const log = { delivery_id: d.id, webhook_id: d.webhook_id, event: d.event, attempt: d.attempts, status, response_status: outcome.responseStatus, ms: outcome.responseMs };
    if (outcome.ok) this.opts.logger.info(log, 'webhook delivered');
    else this.opts.logger.warn({ ...log, error: outcome.error }, status === 'failed' ? 'webhook delivery failed for good' : 'webhook delivery failed, will retry');
    if (recorded?.webhookDisabled) this.opts.logger.warn({ webhook_id: d.webhook_id }, 'webhook disabled: its deliveries keep failing');
    return status;
  }

  private async post(d: ClaimedDelivery): Promise<DeliveryOutcome> {
    const { body, headers } = signedRequest({ ...d, data: openEventData(this.opts.db.knex, d.data) });
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      // Redirects are not followed: a signed health-data payload goes to the URL the clinic registered, nowhere else.
      const res = await fetch(d.url, { method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.timeout(this.opts.timeoutMs) });
      await res.body?.cancel().catch(() => undefined);
      const ok = res.status >= 200 && res.status < 300;
      return { ok, responseStatus: res.status, responseMs: elapsed(), error: ok ? null : `HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, responseStatus: null, responseMs: elapsed(), error: describeFailure(err, this.opts.timeoutMs) };
    }
  }
}
