/**
 * Indexes for the housekeeping job (schedulers/housekeeping.ts), which
 * deletes what has outlived its use in batches: without them each batch
 * would read the whole table.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)');
  await knex.raw('CREATE INDEX IF NOT EXISTS password_resets_expires ON password_resets (expires_at)');
  await knex.raw("CREATE INDEX IF NOT EXISTS webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE status <> 'pending'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS webhook_deliveries_finished');
  await knex.raw('DROP INDEX IF EXISTS password_resets_expires');
  await knex.raw('DROP INDEX IF EXISTS idempotency_keys_created');
}
