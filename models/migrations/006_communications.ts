import type { Knex } from 'knex';

/**
 * Message templates (one body per language) and bulk-send batches. A batch's
 * recipients are its rows in `messages` (batch_id); its counts are an
 * aggregate over them, so nothing here can drift from what was sent.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('message_templates', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('description');
    // null: usable on any channel.
    t.text('channel');
    t.text('category').notNullable().defaultTo('general');
    // { "en": "Hello {{name}}", "es": "Hola {{name}}" }
    t.jsonb('bodies').notNullable();
    t.jsonb('variables').notNullable().defaultTo('[]');
    t.text('created_by');
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'created_at']);
  });
  await knex.raw('CREATE UNIQUE INDEX message_templates_org_name_unique ON message_templates (organization_id, lower(name)) WHERE deleted_at IS NULL');

  await knex.schema.createTable('communication_batches', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('channel').notNullable();
    // queued | processing | completed | cancelled | failed; completed/failed/cancelled are recorded once observed.
    t.text('status').notNullable().defaultTo('queued');
    t.text('template_id');
    // What selected the recipients (patient_ids count or the filter), for the audit trail.
    t.jsonb('audience').notNullable().defaultTo('{}');
    t.integer('total').notNullable().defaultTo(0);
    t.text('created_by');
    t.timestamp('completed_at', { useTz: true });
    t.timestamp('cancelled_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE communication_batches ADD CONSTRAINT communication_batches_status_check
    CHECK (status IN ('queued', 'processing', 'completed', 'cancelled', 'failed'))`);

  // GET /communications?patient_id=... reads a patient's messages newest first.
  await knex.raw('CREATE INDEX IF NOT EXISTS messages_org_patient_created ON messages (organization_id, patient_id, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_org_patient_created');
  await knex.schema.dropTableIfExists('communication_batches');
  await knex.schema.dropTableIfExists('message_templates');
}
