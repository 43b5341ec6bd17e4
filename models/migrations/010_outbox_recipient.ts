import type { Knex } from 'knex';

/**
 * The outbox by recipient: a claim passes over a message while an earlier one
 * to the same address is still queued or being sent elsewhere (per-recipient
 * order across dispatcher instances); this keeps that check an index probe.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX IF NOT EXISTS messages_outbox_recipient ON messages (organization_id, channel, to_address, created_at, id)
    WHERE direction = 'outbound' AND status IN ('queued', 'sending')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_outbox_recipient');
}
