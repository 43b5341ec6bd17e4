/**
 * The conversations of one address, newest first: opening a conversation looks
 * up the address's last closed one (a share-my-number control it left showing
 * is carried into the new one). conversations_open_unique holds open
 * conversations only. No column of this index changes after the insert, so the
 * engine's updates of a conversation stay heap-only.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS conversations_by_address ON conversations (organization_id, channel, channel_address, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS conversations_by_address');
}
