import type { Knex } from 'knex';

/**
 * Messages by patient: a patient's history, the opt-out check, and deleting a
 * patient's rows no longer scan the whole table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS messages_patient ON messages (organization_id, patient_id, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_patient');
}
