/**
 * Audio files sent as voice messages (POST /messages/voice). The bytes are
 * sealed at rest like message content (base64 inside the sealed text, so the
 * key ring's re-sealing and status cover them as a sealed column), with the
 * transcription beside them. A file is served only while its conversation
 * is not deleted. Providers and the web chat fetch a file by its
 * capability URL: only the SHA-256 of its token is kept.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('media_files', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('patient_id').nullable().references('patients.id').onDelete('SET NULL');
    // The message that carries the file: a deleted conversation's files are no longer served.
    t.text('conversation_id').nullable().references('conversations.id').onDelete('CASCADE');
    t.text('message_id').nullable();
    t.text('format').notNullable();
    t.text('mime_type').notNullable();
    t.integer('byte_size').notNullable();
    t.integer('duration_ms').nullable();
    t.text('token_hash').notNullable();
    t.text('data').notNullable();
    t.text('transcription').nullable();
    t.text('transcription_language').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('media_files');
}
