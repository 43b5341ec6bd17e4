/**
 * A node-cron task as the jobs here run it: the expression checked at start
 * (naming its setting), no overlapping runs (a run still going when the next
 * comes up is normal under load: skipped, logged at debug), and a failed run
 * logged without stopping the schedule.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../lib/logger.js';

export function scheduleJob(opts: { name: string; setting: string; schedule: string; logger: Logger; run: () => Promise<unknown> }): ScheduledTask {
  const { name, logger } = opts;
  if (!cron.validate(opts.schedule)) throw new Error(`${opts.setting} is not a cron expression: "${opts.schedule}"`);
  // A run missed while the event loop was busy is not lost: the next one finds whatever is due.
  return cron.schedule(opts.schedule, async () => {
    try {
      await opts.run();
    } catch (err) {
      logger.error({ err: { message: (err as Error).message } }, `${name}: tick failed`);
    }
  }, {
    name, noOverlap: true, suppressMissedWarning: true,
    logger: {
      info: (m) => logger.debug({ job: name }, m),
      warn: (m) => logger.debug({ job: name }, m),
      error: (m) => logger.error({ job: name }, String(m)),
      debug: (m) => logger.debug({ job: name }, String(m)),
    },
  });
}
