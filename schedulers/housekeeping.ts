/**
 * The housekeeping job (node-cron, HOUSEKEEPING_TICK): deletes what has
 * outlived its use (models/housekeeping.ts) for every organization, in
 * batches, ends the calls Twilio never reported the end of (models/calls.ts),
 * then re-seals message content and ticket comments that are not
 * under the primary encryption key (after a rotation, or rows from before encryption; see
 * models/encryption.ts), a bounded share per tick. Several instances may run
 * it: each batch deletes or re-seals what it finds (SKIP LOCKED).
 */
import { CronJob } from './cronTask.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import { purgeExpiredRecords, type PurgeCounts } from '../models/housekeeping.js';
import { resealAllOrganizations } from '../models/encryption.js';
import { endStaleCalls } from '../models/calls.js';

/** What one tick did: rows deleted per table, calls without news ended, and sealed values re-sealed under the primary key. */
export type HousekeepingCounts = PurgeCounts & { calls_ended: number; rows_resealed: number };

/** Rows re-sealed per tick at most, so one tick after a rotation stays short; the next goes on. */
const RESEAL_PER_TICK = 20_000;
/**
 * After a tick found nothing to re-seal, the next look is this much later: this instance seals everything it writes
 * under its primary key, so only another instance still running an older key ring (a rolling rotation) adds rows
 * to re-seal, and each look scans the sealed tables.
 */
const RESEAL_IDLE_MS = 24 * 3600_000;

export interface HousekeepingJobOptions {
  db: Database;
  logger: Logger;
  clock: Clock;
  /** Cron expression (six fields allow seconds): config HOUSEKEEPING_TICK. */
  schedule: string;
  /** Rows deleted (or re-sealed) per statement. */
  batchSize?: number;
}

export class HousekeepingJob extends CronJob<HousekeepingCounts> {
  private nextResealAt = 0;

  constructor(private readonly opts: HousekeepingJobOptions) {
    super({ name: 'housekeeping', setting: 'HOUSEKEEPING_TICK', schedule: opts.schedule, logger: opts.logger });
  }

  /** Deletes until nothing expired is left, then re-seals; returns how many of each. */
  protected async run(): Promise<HousekeepingCounts> {
    const limit = this.opts.batchSize ?? 1_000;
    const total: PurgeCounts = { idempotency_keys: 0, password_resets: 0, webhook_deliveries: 0 };
    for (;;) {
      const batch = await purgeExpiredRecords(this.opts.db.knex, { now: this.opts.clock.now(), limit });
      for (const k of Object.keys(total) as (keyof PurgeCounts)[]) total[k] += batch[k];
      if (Object.values(batch).every((n) => n < limit)) break;
    }
    if (Object.values(total).some((n) => n > 0)) this.opts.logger.info(total, 'housekeeping: expired records deleted');
    let callsEnded = 0;
    for (let batch = limit; batch === limit;) {
      batch = await endStaleCalls(this.opts.db.knex, { now: this.opts.clock.now(), limit });
      callsEnded += batch;
    }
    if (callsEnded > 0) this.opts.logger.info({ calls_ended: callsEnded }, 'housekeeping: calls without a final status ended');
    let resealed = 0;
    const now = this.opts.clock.now().getTime();
    if (now >= this.nextResealAt) {
      resealed = await resealAllOrganizations(this.opts.db.knex, { maxRows: RESEAL_PER_TICK, batchSize: this.opts.batchSize });
      this.nextResealAt = resealed > 0 ? 0 : now + RESEAL_IDLE_MS;
    }
    if (resealed > 0) this.opts.logger.info({ rows_resealed: resealed }, 'housekeeping: sealed content re-sealed under the primary key');
    return { ...total, calls_ended: callsEnded, rows_resealed: resealed };
  }
}
