/**
 * The housekeeping job (node-cron, HOUSEKEEPING_TICK): deletes what has
 * outlived its use (models/housekeeping.ts) for every organization, in
 * batches. Several instances may run it: each batch deletes what it finds.
 */
import { CronJob } from './cronTask.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import { purgeExpiredRecords, type PurgeCounts } from '../models/housekeeping.js';

export interface HousekeepingJobOptions {
  db: Database;
  logger: Logger;
  clock: Clock;
  /** Cron expression (six fields allow seconds): config HOUSEKEEPING_TICK. */
  schedule: string;
  /** Rows deleted per statement. */
  batchSize?: number;
}

export class HousekeepingJob extends CronJob<PurgeCounts> {
  constructor(private readonly opts: HousekeepingJobOptions) {
    super({ name: 'housekeeping', setting: 'HOUSEKEEPING_TICK', schedule: opts.schedule, logger: opts.logger });
  }

  /** Deletes until nothing expired is left; returns how many of each. */
  protected async run(): Promise<PurgeCounts> {
    const limit = this.opts.batchSize ?? 1_000;
    const total: PurgeCounts = { idempotency_keys: 0, password_resets: 0, webhook_deliveries: 0 };
    for (;;) {
      const batch = await purgeExpiredRecords(this.opts.db.knex, { now: this.opts.clock.now(), limit });
      for (const k of Object.keys(total) as (keyof PurgeCounts)[]) total[k] += batch[k];
      if (Object.values(batch).every((n) => n < limit)) break;
    }
    if (Object.values(total).some((n) => n > 0)) this.opts.logger.info(total, 'housekeeping: expired records deleted');
    return total;
  }
}
