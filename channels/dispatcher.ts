/**
 * The outbound dispatcher: claims queued messages (models/outbox.ts, SKIP
 * LOCKED, so any number of instances can run), or takes the bot replies this
 * instance's engine stored already claimed (sendClaimed), sends each through
 * its channel's adapter (claimedMessageSender.ts), and records the result. No
 * transaction is held while a provider is awaited: claim, commit, send, then
 * record. A crash mid-send leaves the row 'sending' until its lease expires,
 * and then it is retaken.
 */
import type { Database } from '../models/db.js';
import type { Logger } from '../lib/logger.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { claimOutbound, markSentMany, type ClaimedMessage } from '../models/outbox.js';
import type { ChannelName } from './types.js';
import type { ChannelRegistry } from './registry.js';
import { SentRecorder, Slots } from './dispatchSupport.js';
import { ClaimedMessageSender } from './claimedMessageSender.js';

export interface DispatcherOptions {
  /** Poll interval when idle (kick() wakes it sooner). */
  pollMs: number;
  /** Messages claimed per round (runOnce); the loop and drain() claim more while the queue stays deep. */
  batchSize: number;
  /** The most one adaptive claim takes when the queue is deep (default max(batchSize, 500)); pacing and the observed send rate cap it lower. */
  maxBatchSize?: number;
  /** How long a claim is ours; an older 'sending' row is retaken by anyone. */
  leaseSeconds: number;
  /** Upper bound on attempts (a row's own max_attempts may be lower). */
  maxAttempts: number;
  /** Delay before attempt n+1 in ms: a list (the last entry repeats) or a function of the attempt that failed (1-based). */
  backoff: readonly number[] | ((attempt: number) => number);
  /** Sends in flight at once (different recipients; one recipient's messages go in order). Default 8. */
  concurrency?: number;
  /** Channels this instance claims; default: every channel in the registry. */
  channels?: readonly ChannelName[];
  /** Only these organizations (sharding by tenant; tests). */
  organizationIds?: readonly string[];
  /** How long a send's record waits for others to share its statement (default RECORD_GATHER_MS). */
  recordGatherMs?: number;
  clock?: Clock;
}

/** Production defaults: 5 s, 30 s, 2 min, 10 min, then every 30 min. */
export const DEFAULT_BACKOFF_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000] as const;

export { renderForChannel, splitText, type MessagePart } from './dispatchText.js';

/** Rounds whose sends are still under way while the next batch is claimed. */
const MAX_ROUNDS_IN_FLIGHT = 2;
/**
 * Rounds sent but not recorded yet while the next batch is claimed. A round
 * leaves those in flight when its sends are done, not when they are recorded:
 * records wait for company (RECORD_GATHER_MS), and a reply queued meanwhile
 * must not wait for them to be claimed.
 */
const MAX_ROUNDS_UNRECORDED = 8;
/**
 * Claims beside full rounds, of everything but bulk, when a kick comes: the
 * rounds in flight may be a campaign's, paced for many seconds, and a staff
 * reply or a reminder queued meanwhile must not wait for one of them to end.
 */
const MAX_ROUNDS_BESIDE = 2;
/** Default upper bound of an adaptive claim: large enough that a deep queue costs few commits per message. */
const DEFAULT_MAX_BATCH = 500;
/**
 * How long the record of a send waits for others to share its statement. Off
 * the reply's path (it follows the send), and short against any lease; at
 * 70 % of the chat benchmark's rate, without it, nearly every send took a
 * statement and a commit of its own.
 */
const RECORD_GATHER_MS = 20;

export class OutboundDispatcher {
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private kicked = false;
  /** The latest claim passed over due messages behind ones in flight to the same recipient. */
  private heldBack = false;
  /** Rounds sending; `unrecorded`: rounds whose results are not all recorded (a round is in both while it sends). */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly unrecorded = new Set<Promise<unknown>>();
  /** Rows handed over by their commit (sendClaimed), until recorded: outside the rounds, waited for by drain() and stop(). */
  private readonly handedOver = new Set<Promise<unknown>>();
  /** Claims beside full rounds (MAX_ROUNDS_BESIDE), until recorded; waited for like the handed-over rows. */
  private readonly beside = new Set<Promise<unknown>>();
  private readonly clock: Clock;
  private readonly slots: Slots;
  /** The last send of each recipient in flight: that recipient's next message goes after it, across rounds. */
  private readonly lanes = new Map<string, Promise<void>>();
  /** Successful sends are recorded together, one statement at a time (group commit). */
  private readonly recorder: SentRecorder;
  /** Sends one claimed message and records the result. */
  private readonly sender: ClaimedMessageSender;
  /** The next adaptive claim's size: doubles after a full claim (a deep queue), back to batchSize after a partial one. */
  private claimSize: number;
  /** Milliseconds per message of the last round that finished (claim to recorded): bounds the claim to what is sent in a third of the lease. */
  private msPerMessage = 0;

  constructor(
    private readonly db: Database,
    private readonly registry: ChannelRegistry,
    private readonly logger: Logger,
    private readonly opts: DispatcherOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.slots = new Slots(opts.concurrency ?? 8);
    this.recorder = new SentRecorder((records) => markSentMany(this.db.knex, records), opts.recordGatherMs ?? RECORD_GATHER_MS);
    this.sender = new ClaimedMessageSender(db, registry, logger, this.clock, this.recorder, opts);
    this.claimSize = opts.batchSize;
  }

  /** Starts the poll loop (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.sender.resume();
    this.loopDone = this.loop();
  }

  /**
   * Stops polling and waits for the sends in flight to be recorded; claimed
   * messages not yet handed to their channel go back to the queue for the
   * next instance (ClaimedMessageSender.stop), so a paced backlog does not
   * hold the shutdown.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.sender.stop();
    this.wake?.();
    await this.loopDone;
    while (this.outstanding().length > 0) await Promise.allSettled(this.outstanding());
    await this.recorder.idle();
  }

  /** Wakes the loop now (call right after a commit that queued messages). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Claims one batch, sends it and records the results; returns how many were claimed. */
  async runOnce(): Promise<number> {
    const round = await this.startRound(this.opts.batchSize);
    await round.done;
    return round.claimed;
  }

  /**
   * Runs rounds until nothing due is left (tests, shutdown flushes), pipelined
   * like the loop: the next batch is claimed while earlier ones are sent and
   * recorded. It returns only after a claim made with nothing in flight found
   * nothing (a retry requeued by a round in flight is claimed again if due).
   */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      while (!this.roomToClaim()) await Promise.race([...this.inFlight, ...this.unrecorded].map((p) => p.catch(() => undefined)));
      const idle = this.outstanding().length === 0;
      const limit = this.claimSize;
      const round = await this.startRound(limit);
      this.adapt(round.claimed, limit);
      total += round.claimed;
      if (round.claimed > 0) continue;
      if (idle) return total;
      await Promise.allSettled(this.outstanding());
    }
  }

  /**
   * Largest adaptive claim: no more than is sent in a third of the lease, by
   * the channels' pacing and by how fast the last round went (a slow provider
   * keeps claims small: no renewals, and other instances can share the queue).
   */
  private maxClaim(): number {
    const channels = this.opts.channels ?? this.registry.names();
    const rates = channels.map((c) => this.registry.get(c)?.ratePerSecond).filter((r): r is number => typeof r === 'number' && r > 0);
    const window = (this.opts.leaseSeconds * 1000) / 3;
    const paced = rates.length > 0 ? Math.floor((Math.min(...rates) * window) / 1000) : Infinity;
    const observed = this.msPerMessage > 0 ? Math.floor(window / this.msPerMessage) : Infinity;
    return Math.max(this.opts.batchSize, Math.min(this.opts.maxBatchSize ?? DEFAULT_MAX_BATCH, paced, observed));
  }

  /** A full claim means a deep queue: claim twice as many next time (up to maxClaim); otherwise back to batchSize. */
  private adapt(claimed: number, limit: number): void {
    this.claimSize = claimed >= limit ? Math.min(limit * 2, this.maxClaim()) : this.opts.batchSize;
  }

  /**
   * Claims, then hands the batch to the senders without waiting for it: the
   * next batch is claimed while this one is sent and recorded (at most
   * MAX_ROUNDS_IN_FLIGHT rounds), so a kick is served within about one claim.
   */
  private async loop(): Promise<void> {
    while (this.running) {
      let full = false;
      if (this.roomToClaim()) {
        // A kick from now on is served by another claim after this one.
        this.kicked = false;
        try {
          const limit = this.claimSize;
          const { claimed } = await this.startRound(limit);
          this.adapt(claimed, limit);
          full = claimed >= limit;
        } catch (err) {
          this.logger.error({ err: { message: (err as Error).message } }, 'dispatcher round failed');
        }
      } else if (this.kicked && this.beside.size < MAX_ROUNDS_BESIDE) {
        this.kicked = false;
        try {
          await this.startRound(this.opts.batchSize, true);
        } catch (err) {
          this.logger.error({ err: { message: (err as Error).message } }, 'dispatcher round beside the others failed');
        }
      }
      if (!this.running) break;
      // More to claim: a full batch came back, or a kick arrived (kept in `kicked` until a claim starts).
      if (full) this.kicked = true;
      if (this.kicked && (this.roomToClaim() || this.beside.size < MAX_ROUNDS_BESIDE)) continue;
      // Idle: the next kick or the poll. No room: the end of a round in flight wakes us when kicked.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.opts.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Everything claimed or handed over and not recorded yet: the rounds, the claims beside them and the handed-over rows. */
  private outstanding(): Promise<unknown>[] {
    return [...this.inFlight, ...this.unrecorded, ...this.handedOver, ...this.beside];
  }

  /** Whether another round may be claimed now: room among the rounds sending and among those not recorded yet. */
  private roomToClaim(): boolean {
    return this.inFlight.size < MAX_ROUNDS_IN_FLIGHT && this.unrecorded.size < MAX_ROUNDS_UNRECORDED;
  }

  /**
   * The lease for rows stored by a commit that hands them to this instance
   * (sendClaimed) instead of queueing them for a claim: null when this
   * dispatcher does not send on that channel for that organization now.
   */
  claimUntil(channel: string, organizationId: string): Date | null {
    if (!this.running) return null;
    if (!(this.opts.channels ?? this.registry.names()).includes(channel as ChannelName)) return null;
    if (this.opts.organizationIds && !this.opts.organizationIds.includes(organizationId)) return null;
    return new Date(this.clock.now().getTime() + this.opts.leaseSeconds * 1000);
  }

  /**
   * Sends rows claimed as they were stored (claimUntil), once committed: a bot
   * reply goes out without waiting for a claim. Sent in lanes with everything
   * else, so one recipient's messages still go in order. Never rejects.
   */
  sendClaimed(messages: readonly ClaimedMessage[]): void {
    if (messages.length === 0) return;
    void this.dispatch([...messages], Date.now(), this.handedOver);
  }

  /**
   * Claims a batch; `done` settles when every claimed message was sent (or not) and recorded.
   * `beside`: a claim beside full rounds (MAX_ROUNDS_BESIDE), bulk left out, not counted among the rounds.
   */
  private async startRound(limit: number, beside = false): Promise<{ claimed: number; done: Promise<void> }> {
    const claimedAt = Date.now();
    const { messages: claimed, heldBack } = await claimOutbound(this.db.knex, {
      limit,
      leaseSeconds: this.opts.leaseSeconds,
      now: this.clock.now(),
      channels: this.opts.channels ?? this.registry.names(),
      organizationIds: this.opts.organizationIds,
      excludeBulk: beside,
    });
    // The latest claim's view: messages waiting for one still being sent to the same recipient.
    this.heldBack = heldBack > 0;
    if (claimed.length === 0) return { claimed: 0, done: Promise.resolve() };
    return { claimed: claimed.length, done: this.dispatch(claimed, claimedAt, beside ? this.beside : undefined) };
  }

  /**
   * Sends claimed messages in their recipients' lanes and records the results;
   * settles when all are recorded. A claimed round counts among the rounds in
   * flight and teaches the adaptive claim its pace; sends outside the rounds
   * (handed over, or claimed beside them) do neither and are kept in `outside`
   * until recorded.
   */
  private dispatch(claimed: ClaimedMessage[], claimedAt: number, outside?: Set<Promise<unknown>>): Promise<void> {
    const round = !outside;
    // One recipient's messages go in order (after any of theirs still in flight); different recipients in parallel.
    const queues = new Map<string, ClaimedMessage[]>();
    for (const m of claimed) {
      const key = `${m.channel}\u0000${m.to_address}`;
      const queue = queues.get(key);
      if (queue) queue.push(m); else queues.set(key, [m]);
    }
    const records: Promise<void>[] = [];
    const lanes = [...queues].map(([key, messages]) => {
      const previous = this.lanes.get(key) ?? Promise.resolve();
      // A lane with anything but bulk in it goes before the lanes of a campaign.
      const urgent = messages.some((m) => m.batch_id === null);
      const lane = previous.then(async () => {
        await this.slots.take(urgent);
        try {
          for (const m of messages) records.push((await this.sender.send(m, claimedAt)).recorded);
        } finally {
          this.slots.give();
        }
      });
      this.lanes.set(key, lane);
      void lane.finally(() => { if (this.lanes.get(key) === lane) this.lanes.delete(key); });
      return lane;
    });
    const sent = Promise.all(lanes).then(() => undefined, () => undefined);
    const done = (async () => {
      await Promise.all(lanes);
      await Promise.all(records);
    })();
    if (outside) {
      outside.add(done);
    } else {
      this.inFlight.add(sent);
      this.unrecorded.add(done);
    }
    void sent.then(() => {
      this.inFlight.delete(sent);
      // Room for a kick that came while this round was sending.
      if (this.kicked) this.wake?.();
    });
    void done.finally(() => {
      if (round) this.msPerMessage = (Date.now() - claimedAt) / claimed.length;
      this.unrecorded.delete(done);
      outside?.delete(done);
      // The loop claims again when a claim held messages back behind this round's (per-recipient order; marked as
      // a kick, so a loop busy claiming right now does not miss it and leave them to the next poll), and when a
      // kick is waiting for room. Otherwise an empty claim after every round would cost a walk of the outbox.
      if (this.heldBack) this.kicked = true;
      if (this.kicked) this.wake?.();
    });
    return done;
  }
}
