/**
 * The webhook delivery queue. A delivery is claimed by moving its due time to
 * the end of a lease (SKIP LOCKED, so instances share the queue), sent with no
 * transaction open, then recorded only if the claim is still ours. Failures
 * are retried after 1, 5 and 15 minutes; the fourth failure marks it failed
 * (API.md, after PRM's retry policy). How a delivery finished feeds the
 * webhook's failure streak, which disables a webhook that keeps failing
 * (webhookHealth.ts).
 *
 * Times here are the database's (now()), like the trigger that queues
 * deliveries: every instance agrees on what is due and when the next retry
 * falls, whatever its own clock says.
 */
import type { Knex } from 'knex';
import { BaseModel, type Db, type OrgScope } from './base.js';
import { noteDeliveryFinished } from './webhookHealth.js';
import { conflict, notFound } from '../lib/errors.js';

export const WEBHOOK_RETRY_DELAYS_MS = [60_000, 5 * 60_000, 15 * 60_000] as const;
/** The first attempt and one per retry delay. */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_MS.length + 1;

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export class WebhookDelivery extends BaseModel {
  static override tableName = 'webhook_deliveries';
  id!: string;
  organization_id!: string;
  webhook_id!: string;
  event_id!: string;
  event!: string;
  status!: DeliveryStatus;
  attempts!: number;
  next_attempt_at!: Date;
  response_status!: number | null;
  response_ms!: number | null;
  last_error!: string | null;
  delivered_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

export async function listDeliveries(
  db: Db, scope: OrgScope, webhookId: string, input: { page: number; limit: number; status?: DeliveryStatus; event?: string },
): Promise<{ rows: WebhookDelivery[]; total: number }> {
  const q = WebhookDelivery.query(db).where({ organization_id: scope.organizationId, webhook_id: webhookId });
  if (input.status) q.where({ status: input.status });
  if (input.event) q.where({ event: input.event });
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

export async function getDelivery(db: Db, scope: OrgScope, webhookId: string, id: string): Promise<WebhookDelivery> {
  const d = await WebhookDelivery.query(db).where({ organization_id: scope.organizationId, webhook_id: webhookId }).findById(id);
  if (!d) throw notFound('Delivery');
  return d;
}

/** Sends a failed delivery again from its first attempt (409 while it is still pending). */
export async function redeliver(db: Db, scope: OrgScope, webhookId: string, id: string): Promise<void> {
  const d = await getDelivery(db, scope, webhookId, id);
  if (d.status === 'pending') throw conflict('The delivery is still pending', { status: d.status });
  const k = db as Knex;
  await k('webhook_deliveries').where({ id: d.id }).update({
    status: 'pending', attempts: 0, next_attempt_at: k.fn.now(), last_error: null, response_status: null, response_ms: null, delivered_at: null,
    updated_at: k.fn.now(),
  });
}

/** A claimed delivery with what sending it needs. */
export interface ClaimedDelivery {
  id: string;
  attempts: number;
  organization_id: string;
  webhook_id: string;
  url: string;
  secret: string;
  event_id: string;
  event: string;
  event_created_at: Date;
  data: unknown;
}

export interface ClaimOptions {
  limit: number;
  leaseSeconds: number;
  organizationIds?: readonly string[];
  /** This delivery only (a test delivery, sent while the request waits). */
  id?: string;
}

/** Claims due deliveries of active webhooks, oldest due first; a claim counts as an attempt. A disabled webhook's wait. */
export async function claimDueDeliveries(db: Db, opts: ClaimOptions): Promise<ClaimedDelivery[]> {
  if (opts.organizationIds?.length === 0) return [];
  const orgFilter = opts.organizationIds ? 'AND d.organization_id = ANY (?::text[])' : '';
  const idFilter = opts.id ? 'AND d.id = ?' : '';
  const result = (await (db as Knex).raw(
    `WITH due AS (
       SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.status = 'active'
       WHERE d.status = 'pending' AND d.next_attempt_at <= now() ${orgFilter} ${idFilter}
       ORDER BY d.next_attempt_at
       LIMIT ?
       FOR UPDATE OF d SKIP LOCKED
     ), claimed AS (
       UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => ?), attempts = d.attempts + 1, updated_at = now()
       FROM due WHERE d.id = due.id
       RETURNING d.id, d.attempts, d.organization_id, d.webhook_id, d.event_id
     )
     SELECT c.id, c.attempts, c.organization_id, c.webhook_id, w.url, w.secret, c.event_id, e.event, e.created_at AS event_created_at, e.data
     FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id`,
    // Placeholders in textual order: due ([orgs], [id], limit), then claimed (lease).
    [...(opts.organizationIds ? [[...opts.organizationIds]] : []), ...(opts.id ? [opts.id] : []), opts.limit, opts.leaseSeconds] as unknown as readonly Knex.RawBinding[],
  )) as { rows: ClaimedDelivery[] };
  return result.rows.map((r) => ({ ...r, data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data }));
}

export interface DeliveryOutcome {
  ok: boolean;
  responseStatus: number | null;
  responseMs: number;
  /** Why it failed, without the payload (status line, timeout, connection error). */
  error: string | null;
}

/** What recording an attempt did: the delivery's new status, and whether that disabled its webhook. */
export interface RecordedAttempt {
  status: DeliveryStatus;
  webhookDisabled: boolean;
}

/**
 * Records an attempt if the claim is still ours: succeeded, retried after
 * the next delay, or failed after the last attempt. A finished delivery is
 * noted on its webhook's failure streak in the same transaction (which may
 * disable the webhook). Returns null when the claim was retaken (its lease
 * ran out) or the webhook went.
 */
export async function recordDeliveryAttempt(
  db: Db, claim: Pick<ClaimedDelivery, 'id' | 'attempts' | 'organization_id' | 'webhook_id'>, outcome: DeliveryOutcome,
): Promise<RecordedAttempt | null> {
  const status: DeliveryStatus = outcome.ok ? 'succeeded' : claim.attempts >= WEBHOOK_MAX_ATTEMPTS ? 'failed' : 'pending';
  const retryDelayMs = WEBHOOK_RETRY_DELAYS_MS[Math.min(claim.attempts, WEBHOOK_RETRY_DELAYS_MS.length) - 1]!;
  const record = async (k: Knex): Promise<RecordedAttempt | null> => {
    const n = await k('webhook_deliveries').where({ id: claim.id, organization_id: claim.organization_id, attempts: claim.attempts, status: 'pending' }).update({
      status,
      response_status: outcome.responseStatus,
      response_ms: outcome.responseMs,
      last_error: outcome.error,
      delivered_at: outcome.ok ? k.fn.now() : null,
      next_attempt_at: status === 'pending' ? k.raw('now() + make_interval(secs => ?)', [retryDelayMs / 1000]) : k.fn.now(),
      updated_at: k.fn.now(),
    });
    if (n !== 1) return null;
    const webhookDisabled = status !== 'pending' && await noteDeliveryFinished(k, claim, outcome);
    return { status, webhookDisabled };
  };
  // A retry touches the delivery only; a finished delivery also its webhook, so both commit together.
  return status === 'pending' ? record(db as Knex) : (db as Knex).transaction(record);
}
