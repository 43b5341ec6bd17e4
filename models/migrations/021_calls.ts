/**
 * Phone calls (VAANI's call logs): one row per Twilio call, linked to the
 * conversation the call was held in (its transcript) and the caller's patient.
 */
import type { Knex } from 'knex';

export const CALL_STATUSES = ['queued', 'ringing', 'in-progress', 'completed', 'busy', 'failed', 'no-answer', 'canceled'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('calls', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('call_sid').notNullable();
    t.text('direction').notNullable().defaultTo('inbound');
    t.text('from_number').notNullable();
    t.text('to_number');
    t.text('patient_id').references('patients.id');
    t.text('conversation_id').references('conversations.id');
    t.text('status').notNullable().defaultTo('ringing');
    t.integer('duration_seconds');
    /** What the caller said or pressed, answered: one per gather. */
    t.integer('turns').notNullable().defaultTo(0);
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('ended_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'started_at']);
  });
  // Twilio's CallSid is unique across its accounts; a retried webhook finds the call it opened.
  await knex.raw('CREATE UNIQUE INDEX calls_call_sid_unique ON calls (call_sid)');
  await knex.raw(`ALTER TABLE calls ADD CONSTRAINT calls_status_check CHECK (status IN (${CALL_STATUSES.map((s) => `'${s}'`).join(', ')}))`);
  await knex.raw(`ALTER TABLE calls ADD CONSTRAINT calls_direction_check CHECK (direction IN ('inbound', 'outbound'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('calls');
}
