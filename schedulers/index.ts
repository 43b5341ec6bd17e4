/**
 * Every scheduled job of an instance, started and stopped together. main.ts
 * stops them before the database closes (a tick in progress finishes first).
 */
import { ReminderJob, type ReminderJobOptions } from './reminders.js';
import { IdleConversationJob, type IdleConversationJobOptions } from './idleConversations.js';
import { WebhookDeliveryJob, type WebhookDeliveryJobOptions } from './webhookDeliveries.js';
import { HousekeepingJob, type HousekeepingJobOptions } from './housekeeping.js';

export { ReminderJob, type ReminderJobOptions, type TickResult } from './reminders.js';
export { IdleConversationJob, type IdleConversationJobOptions } from './idleConversations.js';
export { WebhookDeliveryJob, type WebhookDeliveryJobOptions, WEBHOOKS_CHANNEL } from './webhookDeliveries.js';
export { HousekeepingJob, type HousekeepingJobOptions } from './housekeeping.js';

export interface SchedulerOptions {
  reminders: ReminderJobOptions;
  idleConversations: IdleConversationJobOptions;
  webhooks: WebhookDeliveryJobOptions;
  housekeeping: HousekeepingJobOptions;
}

export interface Schedulers {
  reminders: ReminderJob;
  idleConversations: IdleConversationJob;
  webhooks: WebhookDeliveryJob;
  housekeeping: HousekeepingJob;
  start(): void;
  stop(): Promise<void>;
}

export function createSchedulers(opts: SchedulerOptions): Schedulers {
  const reminders = new ReminderJob(opts.reminders);
  const idleConversations = new IdleConversationJob(opts.idleConversations);
  const webhooks = new WebhookDeliveryJob(opts.webhooks);
  const housekeeping = new HousekeepingJob(opts.housekeeping);
  const jobs = [reminders, idleConversations, webhooks, housekeeping];
  return {
    reminders,
    idleConversations,
    webhooks,
    housekeeping,
    start() {
      for (const job of jobs) job.start();
    },
    async stop() {
      await Promise.all(jobs.map((job) => job.stop()));
    },
  };
}
