/**
 * The claim's per-recipient order check (models/outbox.ts) must seek the
 * recipient. With the same predicate as messages_outbox_order, the planner
 * could read that index instead (every earlier queued message, once per
 * candidate) whenever the statistics made both look cheap. Keyed on status
 * alone, the recipient index serves a probe that names no direction, and the
 * order index (which needs direction = 'outbound') cannot; the constraint
 * makes "queued means outbound" a rule of the table rather than a habit of the
 * writers, so the probe loses nothing by not naming it.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_queued_outbound
    CHECK (direction = 'outbound' OR status NOT IN ('queued', 'sending')) NOT VALID`);
  await knex.raw('ALTER TABLE messages VALIDATE CONSTRAINT messages_queued_outbound');
  await knex.raw('DROP INDEX IF EXISTS messages_outbox_recipient');
  await knex.raw(`CREATE INDEX messages_outbox_recipient ON messages (organization_id, channel, to_address, created_at, id) WHERE status = 'queued'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_outbox_recipient');
  await knex.raw(`CREATE INDEX messages_outbox_recipient ON messages (organization_id, channel, to_address, created_at, id)
    WHERE direction = 'outbound' AND status IN ('queued', 'sending')`);
  await knex.raw('ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_queued_outbound');
}
