/**
 * When each encryption key was first used to seal (GET /system/encryption/status:
 * last_rotation, next_rotation). Ids and dates only: the keys themselves come
 * from configuration, never from the database.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('encryption_keys', (t) => {
    t.text('id').primary();
    t.timestamp('first_used_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('encryption_keys');
}
