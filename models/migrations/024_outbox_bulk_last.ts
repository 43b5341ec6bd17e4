/**
 * The outbox claims bulk sends last (models/outbox.ts, claimStatement): a
 * campaign of 100,000 texts paced at 10 a second is hours of queue, and a
 * staff reply, a reminder or a bot reply queued after it must not wait behind
 * all of it. The queue-order index leads with whether a row is bulk, so the
 * claim still reads the queue in index order.
 */
import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from './concurrentIndex.js';

/** Built without blocking the messages' writes (concurrentIndex.ts): no transaction. */
export const config = { transaction: false };

const QUEUED = `WHERE direction = 'outbound' AND status IN ('queued', 'sending')`;

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'messages_outbox_queue', `messages ((batch_id IS NOT NULL), created_at, id) ${QUEUED}`);
  await dropIndexConcurrently(knex, 'messages_outbox_order');
}

export async function down(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'messages_outbox_order', `messages (created_at, id) ${QUEUED}`);
  await dropIndexConcurrently(knex, 'messages_outbox_queue');
}
