/**
 * A scheduled job as the jobs here run: a node-cron task whose expression is
 * checked at start (naming its setting), no overlapping runs (a run still
 * going when the next comes up is normal under load: skipped, logged at
 * debug), a failed run logged without stopping the schedule, and `tick()`
 * (the schedule's, or a caller's) never running twice at once in an instance.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../lib/logger.js';

function scheduleJob(opts: { name: string; setting: string; schedule: string; logger: Logger; run: () => Promise<unknown> }): ScheduledTask {
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

export abstract class CronJob<T> {
  private task: ScheduledTask | null = null;
  private current: Promise<T> | null = null;

  constructor(private readonly job: { name: string; setting: string; schedule: string; logger: Logger }) {}

  /** What one run does. */
  protected abstract run(): Promise<T>;

  /** Schedules the cron task (idempotent). */
  start(): void {
    if (this.task) return;
    this.task = scheduleJob({ ...this.job, run: () => this.tick() });
  }

  /** Stops scheduling and waits for a run in progress (call before the database closes). */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = null;
    if (task) await task.destroy();
    await this.current?.catch(() => undefined);
  }

  /** One run, after any run in progress. */
  async tick(): Promise<T> {
    while (this.current) await this.current.catch(() => undefined);
    const run = this.run();
    this.current = run;
    try {
      return await run;
    } finally {
      this.current = null;
    }
  }
}
