import type { Knex } from 'knex';

/**
 * Web chat sessions: a visitor's browser holds a random token; we keep only its
 * hash. The session id is the conversation's channel_address on 'webchat'.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webchat_sessions', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('token_hash').notNullable().unique();
    t.text('conversation_id').references('conversations.id').onDelete('SET NULL');
    t.text('patient_id').references('patients.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'last_seen_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webchat_sessions');
}
