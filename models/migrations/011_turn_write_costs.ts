/**
 * Cheaper writes for a chat turn (it inserts messages and updates its
 * conversation twice). Fewer index entries per message row version:
 * - messages_patient (009) repeated messages_org_patient_created (006) column for column;
 * - the batch index held a NULL entry for every message that is not part of a
 *   bulk send (every chat message); only batch messages are ever looked up by batch.
 * And room on each conversations page, so a turn's updates (none touches an
 * indexed column) stay heap-only instead of writing every index again.
 * Outbound messages pass queued -> sending -> sent within seconds, leaving
 * dead entries in the outbox indexes that every claim walks past until a
 * vacuum: messages are vacuumed after 2% of them changed, not 20%.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_patient');
  await knex.raw('CREATE INDEX IF NOT EXISTS messages_batch_status ON messages (batch_id, status) WHERE batch_id IS NOT NULL');
  await knex.raw('DROP INDEX IF EXISTS messages_batch_id_status_index');
  await knex.raw('ALTER TABLE conversations SET (fillfactor = 80)');
  await knex.raw('ALTER TABLE messages SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE messages RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)');
  await knex.raw('ALTER TABLE conversations RESET (fillfactor)');
  await knex.raw('CREATE INDEX IF NOT EXISTS messages_batch_id_status_index ON messages (batch_id, status)');
  await knex.raw('DROP INDEX IF EXISTS messages_batch_status');
  await knex.raw('CREATE INDEX IF NOT EXISTS messages_patient ON messages (organization_id, patient_id, created_at)');
}
