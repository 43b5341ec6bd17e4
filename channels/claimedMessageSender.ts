/**
 * One claimed message's send, for the dispatcher (dispatcher.ts): the checks
 * at send time (channel installed and enabled, the patient's opt-out,
 * attempts, the instance stopping, a claim held so long it must be renewed
 * first), the channel's
 * pacing, the parts of a long text, and the result: a send is recorded with
 * the others of the moment (SentRecorder), a failure is retried with backoff or
 * given up visibly.
 */
import type { Database } from '../models/db.js';
import { messageAsks } from '../models/messages.js';
import type { Logger } from '../lib/logger.js';
import type { Clock } from '../lib/clock.js';
import { markFailed, markRetry, markSkipped, releaseClaim, renewClaim, type ClaimedMessage, type ClaimRef } from '../models/outbox.js';
import { ProviderRefusedError, ProviderUnreachableError, type SendResult } from './types.js';
import type { ChannelRegistry } from './registry.js';
import { TokenBucket, type SentRecorder } from './dispatchSupport.js';
import { renderForChannel } from './dispatchText.js';
import { outboundMediaOf } from './outboundMedia.js';
import type { DispatcherOptions } from './dispatcher.js';

const clip = (s: string) => (s.length > 500 ? `${s.slice(0, 497)}...` : s);

/** send() result of a message that was recorded (or not) already. */
const NOTHING_TO_RECORD = { recorded: Promise.resolve() };

export class ClaimedMessageSender {
  private readonly buckets = new Map<string, TokenBucket>();
  /** Set by stop(): messages not yet handed to their channel go back to the queue. */
  private stopping = false;

  constructor(
    private readonly db: Database,
    private readonly registry: ChannelRegistry,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly recorder: SentRecorder,
    private readonly opts: Pick<DispatcherOptions, 'leaseSeconds' | 'maxAttempts' | 'backoff'>,
  ) {}

  /**
   * From now on a message not yet handed to its channel is given back
   * (releaseClaim) instead of sent: the shutdown waits for the sends in flight,
   * not for a channel's pace to work through every claimed message.
   */
  stop(): void {
    this.stopping = true;
  }

  /** Sends again (the dispatcher started again). */
  resume(): void {
    this.stopping = false;
  }

  private backoffMs(attempt: number): number {
    const b = this.opts.backoff;
    if (typeof b === 'function') return b(attempt);
    return b[Math.min(attempt - 1, b.length - 1)] ?? 60_000;
  }

  private bucket(channel: string, rate: number | undefined): TokenBucket | null {
    if (!rate || rate <= 0) return null;
    let bucket = this.buckets.get(channel);
    if (!bucket) this.buckets.set(channel, (bucket = new TokenBucket(rate)));
    return bucket;
  }

  /**
   * Sends one claimed message; resolves once it was handed to the channel (or
   * given up) with a promise that settles when the result is recorded. Never rejects.
   */
  async send(m: ClaimedMessage, claimedAt = Date.now()): Promise<{ recorded: Promise<void> }> {
    const claim: ClaimRef = { id: m.id, attempts: m.attempts };
    const log = { message_id: m.id, channel: m.channel, attempt: m.attempts };
    const maxAttempts = Math.min(m.max_attempts, this.opts.maxAttempts);
    try {
      const adapter = this.registry.get(m.channel);
      if (!adapter) {
        await markFailed(this.db.knex, claim, `channel_unavailable: no ${m.channel} channel is installed`, this.clock.now());
        this.logger.warn(log, 'outbound failed: channel unavailable');
        return NOTHING_TO_RECORD;
      }
      if (!adapter.enabled) {
        await markFailed(this.db.knex, claim, `channel_disabled: the ${m.channel} channel is not configured`, this.clock.now());
        this.logger.warn(log, 'outbound failed: channel disabled');
        return NOTHING_TO_RECORD;
      }
      if (m.patient_opted_out && m.sender !== 'staff' && m.metadata?.transactional !== true) {
        await markSkipped(this.db.knex, claim, 'opted_out');
        this.logger.info(log, 'outbound skipped: patient opted out');
        return NOTHING_TO_RECORD;
      }
      if (m.attempts > maxAttempts) {
        // A claim retaken after crashes: it has had its chances.
        await markFailed(this.db.knex, claim, `max_attempts: gave up after ${maxAttempts} attempts`, this.clock.now());
        return NOTHING_TO_RECORD;
      }
      if (this.stopping) return await this.giveBack(claim, log);
      // Fencing: a message that waited a third of its lease (pacing, a slow round) renews the claim before it is
      // sent; when another instance already retook it, this one stands down instead of sending it twice.
      if (Date.now() - claimedAt > (this.opts.leaseSeconds * 1000) / 3
        && !(await renewClaim(this.db.knex, claim, new Date(this.clock.now().getTime() + this.opts.leaseSeconds * 1000)))) {
        this.logger.warn(log, 'outbound claim lost before sending (retaken after its lease); not sent here');
        return NOTHING_TO_RECORD;
      }
      // A voice message is its audio alone (its content is the file's URL, not words to send).
      const media = outboundMediaOf(m.metadata);
      if (media && !adapter.capabilities.media) {
        await this.recordFailure(m, claim, new ProviderRefusedError(`${adapter.name} cannot carry an audio file`, 'media_not_supported'), maxAttempts, { partsSent: 0, firstProviderMessageId: null });
        return NOTHING_TO_RECORD;
      }
      const parts = media ? [{ text: '', options: null }] : renderForChannel(m.content, m.options, adapter.capabilities);
      const { ask, askClosed } = messageAsks(m.metadata);
      const alreadySent = typeof m.metadata?.parts_sent === 'number' ? m.metadata.parts_sent : 0;
      let firstId = alreadySent > 0 ? m.provider_message_id : null;
      let result: SendResult | null = null;
      let sent = alreadySent;
      const bucket = this.bucket(adapter.name, adapter.ratePerSecond);
      try {
        for (let i = alreadySent; i < parts.length; i++) {
          const out = {
            id: m.id, organizationId: m.organization_id, channel: adapter.name, to: m.to_address,
            text: parts[i].text, options: parts[i].options, conversationId: m.conversation_id,
            sender: m.sender, createdAt: new Date(m.created_at), part: i,
            ...(i === parts.length - 1 && ask ? { asksPhone: { label: ask.label } } : {}),
            ...(i === parts.length - 1 && askClosed ? { closesPhoneAsk: true } : {}),
            ...(media ? { media } : {}),
          };
          // A retry may follow an attempt the provider took but we never recorded (crash, timeout): ask before resending.
          const found = i === alreadySent && m.attempts > 1 && adapter.findSent ? await adapter.findSent(out) : null;
          if (found) this.logger.info({ ...log, part: i + 1 }, 'outbound found at the provider after an in-doubt attempt; not resent');
          // Stopping while it waits for its turn at the channel's pace: back to the queue, unless a part already went.
          if (!found && bucket && !(await bucket.take(() => this.stopping && sent === alreadySent))) return await this.giveBack(claim, log);
          this.logger.debug({ ...log, part: i + 1, parts: parts.length, to: m.to_address, text: parts[i].text }, 'sending');
          result = found ?? await adapter.send(out);
          if (i === 0) firstId = result.providerMessageId;
          sent = i + 1;
        }
      } catch (err) {
        await this.recordFailure(m, claim, err, maxAttempts, { partsSent: sent, firstProviderMessageId: firstId });
        return NOTHING_TO_RECORD;
      }
      // Recorded with the other sends of the moment, in one statement; the next message of this recipient need not wait for it.
      const status = result?.status === 'delivered' ? 'delivered' : 'sent';
      return { recorded: this.recorder.record({ claim, providerMessageId: firstId, status, at: this.clock.now() }).then((recorded) => {
        if (recorded) this.logger.info({ ...log, parts: parts.length }, 'outbound sent');
        else this.logger.warn(log, 'outbound sent but the claim was lost (lease expired?)');
      }, (err: unknown) => this.recordError(log, err)) };
    } catch (err) {
      this.recordError(log, err);
    }
    return NOTHING_TO_RECORD;
  }

  private async giveBack(claim: ClaimRef, log: Record<string, unknown>): Promise<{ recorded: Promise<void> }> {
    const released = await releaseClaim(this.db.knex, claim);
    this.logger.debug({ ...log, released }, 'outbound given back to the queue: this instance is stopping');
    return NOTHING_TO_RECORD;
  }

  private recordError(log: Record<string, unknown>, err: unknown): void {
    // Recording itself failed (database down): the lease expires and the row is retaken.
    this.logger.error({ ...log, err: { message: (err as Error).message } }, 'could not record an outbound result');
  }

  private async recordFailure(m: ClaimedMessage, claim: ClaimRef, err: unknown, maxAttempts: number, progress: { partsSent: number; firstProviderMessageId: string | null }): Promise<void> {
    const log = { message_id: m.id, channel: m.channel, attempt: m.attempts };
    const now = this.clock.now();
    if (err instanceof ProviderRefusedError && !err.retryable) {
      await markFailed(this.db.knex, claim, clip(`refused: ${err.code}: ${err.message}`), now);
      this.logger.warn({ ...log, code: err.code }, 'outbound refused by the provider');
      return;
    }
    const reason = err instanceof ProviderRefusedError
      ? `refused: ${err.code}: ${err.message}`
      : err instanceof ProviderUnreachableError ? `unreachable: ${err.message}` : `error: ${(err as Error)?.message ?? String(err)}`;
    if (m.attempts >= maxAttempts) {
      await markFailed(this.db.knex, claim, clip(`${reason} (gave up after ${m.attempts} attempts)`), now);
      this.logger.warn(log, 'outbound failed after its last attempt');
      return;
    }
    const wait = Math.max(this.backoffMs(m.attempts), err instanceof ProviderRefusedError ? err.retryAfterMs ?? 0 : 0);
    const next = new Date(now.getTime() + wait);
    await markRetry(this.db.knex, claim, clip(reason), next, progress);
    this.logger.info({ ...log, retry_at: next.toISOString() }, 'outbound will be retried');
  }
}
