/**
 * The conversations of one address, newest first: opening a conversation looks
 * up the address's last closed one (a share-my-number control it left showing
 * is carried into the new one). conversations_open_unique holds open
 * conversations only. No column of this index changes after the insert, so the
 * engine's updates of a conversation stay heap-only.
 */
import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from './concurrentIndex.js';

/** Built without blocking the conversations' writes (concurrentIndex.ts): no transaction. */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'conversations_by_address', 'conversations (organization_id, channel, channel_address, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await dropIndexConcurrently(knex, 'conversations_by_address');
}
