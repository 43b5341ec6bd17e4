/**
 * Recording a send as a heap-only update (no new index entries):
 * - A bulk send's messages by batch, without their status: with `status` in
 *   no index of `messages` (022), a send's record changes no indexed column.
 *   A batch's counts read its rows either way.
 * - Room for it on the row's page. An outbound row gets two new versions
 *   within seconds (the claim's lease, then the record), and a sealed reply
 *   with its options is about 600 bytes: fillfactor 90 keeps 800 bytes of a
 *   page free, and two updates in five still moved to another page, with an
 *   entry in each index (chat benchmark, pg_stat_user_tables). At 70, five in
 *   six stay. New pages hold about a fifth fewer rows; the rest is for those versions.
 */
import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from './concurrentIndex.js';

/** Built without blocking the messages' writes (concurrentIndex.ts): no transaction. */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'messages_batch', 'messages (batch_id) WHERE batch_id IS NOT NULL');
  await dropIndexConcurrently(knex, 'messages_batch_status');
  // New pages only: existing ones keep their rows, and their free space is used as before.
  await knex.raw('ALTER TABLE messages SET (fillfactor = 70)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE messages SET (fillfactor = 90)');
  await createIndexConcurrently(knex, 'messages_batch_status', 'messages (batch_id, status) WHERE batch_id IS NOT NULL');
  await dropIndexConcurrently(knex, 'messages_batch');
}
