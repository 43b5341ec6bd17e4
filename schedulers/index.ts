/**
 * Every scheduled job of an instance, started and stopped together. main.ts
 * stops them before the database closes (a tick in progress finishes first).
 */
import { ReminderJob, type ReminderJobOptions } from './reminders.js';

export { ReminderJob, type ReminderJobOptions, type TickResult } from './reminders.js';

export interface SchedulerOptions {
  reminders: ReminderJobOptions;
}

export interface Schedulers {
  reminders: ReminderJob;
  start(): void;
  stop(): Promise<void>;
}

export function createSchedulers(opts: SchedulerOptions): Schedulers {
  const reminders = new ReminderJob(opts.reminders);
  const jobs = [reminders];
  return {
    reminders,
    start() {
      for (const job of jobs) job.start();
    },
    async stop() {
      await Promise.all(jobs.map((job) => job.stop()));
    },
  };
}
