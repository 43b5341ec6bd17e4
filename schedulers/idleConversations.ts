/**
 * The idle-conversation job (node-cron, IDLE_CLOSE_TICK, noOverlap): closes the
 * bot's conversations silent for longer than CONVERSATION_IDLE_MINUTES, so
 * the conversation list shows what is really open and every conversation
 * gets its conversation.closed. The next message from that patient opens a
 * new conversation. Any number of instances may run it (SKIP LOCKED).
 */
import type { ScheduledTask } from 'node-cron';
import { scheduleJob } from './cronTask.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import { closeIdleConversations } from '../models/conversations.js';

export interface IdleConversationJobOptions {
  db: Database;
  logger: Logger;
  clock: Clock;
  idleMinutes: number;
  /** Cron expression (six fields allow seconds): config IDLE_CLOSE_TICK. */
  schedule: string;
  /** Closed per statement (a run repeats until none is left). */
  batchSize?: number;
  /** Only these organizations (sharding by tenant; tests). */
  organizationIds?: readonly string[];
}

export class IdleConversationJob {
  private task: ScheduledTask | null = null;
  private current: Promise<number> | null = null;

  constructor(private readonly opts: IdleConversationJobOptions) {}

  start(): void {
    if (this.task) return;
    this.task = scheduleJob({ name: 'idle-conversations', setting: 'IDLE_CLOSE_TICK', schedule: this.opts.schedule, logger: this.opts.logger, run: () => this.tick() });
  }

  /** Stops scheduling and waits for a run in progress (call before the database closes). */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = null;
    if (task) await task.destroy();
    await this.current?.catch(() => undefined);
  }

  /** One run: closes idle conversations until none is left; returns how many. */
  async tick(): Promise<number> {
    while (this.current) await this.current.catch(() => undefined);
    const run = (async () => {
      let total = 0;
      for (;;) {
        const closed = await closeIdleConversations(this.opts.db.knex, {
          now: this.opts.clock.now(), idleMinutes: this.opts.idleMinutes, limit: this.opts.batchSize ?? 500, organizationIds: this.opts.organizationIds,
        });
        total += closed;
        if (closed < (this.opts.batchSize ?? 500)) break;
      }
      if (total > 0) this.opts.logger.info({ closed: total }, 'idle conversations closed');
      return total;
    })();
    this.current = run;
    try {
      return await run;
    } finally {
      this.current = null;
    }
  }
}
