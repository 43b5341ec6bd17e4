import type { Knex } from 'knex';

/**
 * Appointment reminders: one row per appointment and offset (a unique key holds
 * it), claimed by the reminder job with SKIP LOCKED and a lease. A reminder
 * becomes at most one outbound message (a unique partial index on
 * messages.reminder_id holds that too).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('reminders', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('appointment_id').notNullable().references('appointments.id').onDelete('CASCADE');
    t.integer('offset_minutes').notNullable();
    // When it goes out: start_time - offset, pushed out of the clinic's quiet hours when the appointment allows.
    t.timestamp('due_at', { useTz: true }).notNullable();
    // The channel it was (or will be) queued on; decided at send time, null while pending.
    t.text('channel');
    t.text('status').notNullable().defaultTo('pending');
    t.timestamp('claimed_until', { useTz: true });
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('message_id');
    t.text('skip_reason');
    t.timestamp('sent_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['appointment_id', 'offset_minutes']);
  });
  await knex.raw(`ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('pending', 'claimed', 'sent', 'skipped', 'cancelled', 'failed'))`);
  // The job's claim: due pending rows, and claimed rows whose lease ran out.
  await knex.raw(`CREATE INDEX reminders_due ON reminders (due_at) WHERE status IN ('pending', 'claimed')`);
  await knex.raw(`CREATE UNIQUE INDEX messages_reminder_unique ON messages (reminder_id) WHERE reminder_id IS NOT NULL`);
  // The dispatcher claims in (created_at, id) order: without this, every claim sorts the whole queue (a 100k batch).
  await knex.raw(`CREATE INDEX messages_outbox_order ON messages (created_at, id) WHERE direction = 'outbound' AND status IN ('queued', 'sending')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS messages_outbox_order');
  await knex.raw('DROP INDEX IF EXISTS messages_reminder_unique');
  await knex.schema.dropTableIfExists('reminders');
}
