/**
 * Every scheduled job of an instance, started and stopped together. main.ts
 * stops them before the database closes (a tick in progress finishes first).
 */
import { ReminderJob, type ReminderJobOptions } from './reminders.js';
import { IdleConversationJob, type IdleConversationJobOptions } from './idleConversations.js';
import { WebhookDeliveryJob, type WebhookDeliveryJobOptions } from './webhookDeliveries.js';

export { ReminderJob, type ReminderJobOptions, type TickResult } from './reminders.js';
export { IdleConversationJob, type IdleConversationJobOptions } from './idleConversations.js';
export { WebhookDeliveryJob, type WebhookDeliveryJobOptions, WEBHOOKS_CHANNEL } from './webhookDeliveries.js';

export interface SchedulerOptions {
  reminders: ReminderJobOptions;
  idleConversations: IdleConversationJobOptions;
  webhooks: WebhookDeliveryJobOptions;
}

export interface Schedulers {
  reminders: ReminderJob;
  idleConversations: IdleConversationJob;
  webhooks: WebhookDeliveryJob;
  start(): void;
  stop(): Promise<void>;
}

export function createSchedulers(opts: SchedulerOptions): Schedulers {
  const reminders = new ReminderJob(opts.reminders);
  const idleConversations = new IdleConversationJob(opts.idleConversations);
  const webhooks = new WebhookDeliveryJob(opts.webhooks);
  const jobs = [reminders, idleConversations, webhooks];
  return {
    reminders,
    idleConversations,
    webhooks,
    start() {
      for (const job of jobs) job.start();
    },
    async stop() {
      await Promise.all(jobs.map((job) => job.stop()));
    },
  };
}
