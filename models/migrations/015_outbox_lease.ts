/**
 * Cheaper outbound writes (each one is a chat reply, a reminder or a bulk message):
 * - A claim is a lease on a queued row, not a status (models/outbox.ts), so it
 *   changes no indexed column and can be a heap-only update; rows stored as
 *   'sending' become queued rows under the lease they had. Room is left on each
 *   new page of messages for those updates.
 * - messages_outbox (next_attempt_at) has served no query since the claim
 *   orders by messages_outbox_order (008): it cost two index entries per message.
 * - messages and events no longer reference organizations: every insert took a
 *   key-share lock on the one organization row, which all of a clinic's
 *   concurrent turns share (a new MultiXact per insert). Their organization is
 *   still every query's scope, and organizations are never deleted; messages
 *   keep their conversation and patient keys.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE messages SET status = 'queued' WHERE status = 'sending'`);
  await knex.raw('DROP INDEX IF EXISTS messages_outbox');
  await knex.raw('ALTER TABLE messages SET (fillfactor = 90)');
  await knex.raw('ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_organization_id_foreign');
  await knex.raw('ALTER TABLE events DROP CONSTRAINT IF EXISTS events_organization_id_foreign');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE events ADD CONSTRAINT events_organization_id_foreign FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE');
  await knex.raw('ALTER TABLE messages ADD CONSTRAINT messages_organization_id_foreign FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE');
  await knex.raw('ALTER TABLE messages RESET (fillfactor)');
  await knex.raw(`CREATE INDEX IF NOT EXISTS messages_outbox ON messages (next_attempt_at) WHERE direction = 'outbound' AND status IN ('queued', 'sending')`);
  await knex.raw(`UPDATE messages SET status = 'sending' WHERE status = 'queued' AND claimed_until > now()`);
}
