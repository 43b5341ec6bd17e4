/**
 * The idle-conversation job (node-cron, IDLE_CLOSE_TICK, noOverlap): closes the
 * bot's conversations silent for longer than CONVERSATION_IDLE_MINUTES, so
 * the conversation list shows what is really open and every conversation
 * gets its conversation.closed. The next message from that patient opens a
 * new conversation. Any number of instances may run it (SKIP LOCKED).
 */
import { CronJob } from './cronTask.js';
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

export class IdleConversationJob extends CronJob<number> {
  constructor(private readonly opts: IdleConversationJobOptions) {
    super({ name: 'idle-conversations', setting: 'IDLE_CLOSE_TICK', schedule: opts.schedule, logger: opts.logger });
  }

  /** Closes idle conversations until none is left; returns how many. */
  protected async run(): Promise<number> {
    const limit = this.opts.batchSize ?? 500;
    let total = 0;
    for (;;) {
      const closed = await closeIdleConversations(this.opts.db.knex, {
        now: this.opts.clock.now(), idleMinutes: this.opts.idleMinutes, limit, organizationIds: this.opts.organizationIds,
      });
      total += closed;
      if (closed < limit) break;
    }
    if (total > 0) this.opts.logger.info({ closed: total }, 'idle conversations closed');
    return total;
  }
}
