/**
 * The dispatcher's small machinery: pacing per channel, a bound on sends in
 * flight, and the group recorder that writes many "sent" results in one statement.
 */
import type { SentRecord } from '../models/outbox.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Paces sends to `rate` per second with a burst of max(1, rate). */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number, private readonly burst = Math.max(1, rate)) {
    this.tokens = this.burst;
  }
  /** Waits for a token; false, without one, once `giveUp` says so while waiting. */
  async take(giveUp?: () => boolean): Promise<boolean> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return true;
      }
      if (giveUp?.()) return false;
      await sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    }
  }
}

/**
 * A counting semaphore: at most `size` holders at once. An urgent taker is
 * served before everyone who is not (a reply before the rest of a campaign).
 */
export class Slots {
  private free: number;
  private waiting: (() => void)[] = [];
  private urgent: (() => void)[] = [];
  constructor(size: number) {
    this.free = Math.max(1, size);
  }
  async take(urgent = false): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => (urgent ? this.urgent : this.waiting).push(resolve));
  }
  give(): void {
    const next = this.urgent.shift() ?? this.waiting.shift();
    if (next) next(); else this.free++;
  }
}

/** Rows recorded per statement at most. */
const RECORD_BATCH = 500;

interface PendingSent { record: SentRecord; resolve: (recorded: boolean) => void; reject: (err: unknown) => void }

/**
 * Group commit for successful sends: records wait while one statement is in
 * flight and then go together in the next, so under load one statement
 * records many sends. A statement also waits `gatherMs` after the first send
 * it will carry: the patient has the message already, and at a moderate rate
 * the sends of those milliseconds share one statement and one commit instead
 * of taking one each.
 */
export class SentRecorder {
  private pending: PendingSent[] = [];
  private flushing: Promise<void> | null = null;

  /** `write` records a batch and returns the ids still claimed by us (markSentMany). */
  constructor(private readonly write: (records: SentRecord[]) => Promise<Set<string>>, private readonly gatherMs = 0) {}

  /** Resolves with whether the claim was still ours when recorded; rejects when the statement failed. */
  record(record: SentRecord): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Settles when nothing is waiting or being written. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      // A full statement's worth is already waiting under load: no reason to wait for more.
      if (this.gatherMs > 0 && this.pending.length < RECORD_BATCH) await sleep(this.gatherMs);
      const batch = this.pending.splice(0, RECORD_BATCH);
      try {
        const recorded = await this.write(batch.map((p) => p.record));
        for (const p of batch) p.resolve(recorded.has(p.record.claim.id));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.flushing = null;
  }
}
