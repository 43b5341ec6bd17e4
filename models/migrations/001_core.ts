import type { Knex } from 'knex';

/**
 * The core schema: tenants, people who log in, patients, doctors, appointments,
 * domain events and idempotency records. Every tenant-owned row carries
 * organization_id; public ids are prefixed text (lib/ids.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE EXTENSION IF NOT EXISTS btree_gist');

  await knex.schema.createTable('organizations', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('time_zone').notNullable().defaultTo('UTC');
    t.jsonb('settings').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('users', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('email').notNullable();
    t.text('username');
    t.text('password_hash').notNullable();
    t.text('first_name').notNullable().defaultTo('');
    t.text('last_name').notNullable().defaultTo('');
    t.text('role').notNullable();
    t.jsonb('permissions').notNullable().defaultTo('[]');
    t.text('doctor_id');
    t.boolean('is_active').notNullable().defaultTo(true);
    t.integer('token_version').notNullable().defaultTo(0);
    t.timestamp('last_login_at', { useTz: true });
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id']);
  });
  await knex.raw('CREATE UNIQUE INDEX users_email_unique ON users (lower(email)) WHERE deleted_at IS NULL');
  await knex.raw('CREATE UNIQUE INDEX users_username_unique ON users (lower(username)) WHERE deleted_at IS NULL AND username IS NOT NULL');
  await knex.raw(`ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'provider', 'staff'))`);

  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('prefix').notNullable();
    t.text('key_hash').notNullable().unique();
    t.jsonb('scopes').notNullable().defaultTo('[]');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id']);
  });

  await knex.schema.createTable('refresh_tokens', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('family_id').notNullable();
    t.text('token_hash').notNullable().unique();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['family_id']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('password_resets', (t) => {
    t.text('id').primary();
    t.text('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('token_hash').notNullable().unique();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('patients', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('phone');
    t.text('email');
    t.date('date_of_birth');
    t.text('gender');
    t.text('address');
    t.jsonb('emergency_contact');
    t.text('preferred_language').notNullable().defaultTo('en');
    t.text('status').notNullable().defaultTo('active');
    t.text('notes');
    t.jsonb('metadata').notNullable().defaultTo('{}');
    t.timestamp('opted_out_at', { useTz: true });
    t.timestamp('last_activity_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE patients ADD CONSTRAINT patients_status_check CHECK (status IN ('active', 'inactive'))`);
  // One live patient per phone in a clinic; a soft-deleted one frees the number.
  await knex.raw('CREATE UNIQUE INDEX patients_org_phone_unique ON patients (organization_id, phone) WHERE deleted_at IS NULL AND phone IS NOT NULL');

  await knex.schema.createTable('doctors', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('specialization').notNullable();
    t.text('phone');
    t.text('email');
    t.jsonb('working_hours').notNullable().defaultTo('{}');
    t.text('time_zone');
    t.text('location');
    t.boolean('active').notNullable().defaultTo(true);
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id']);
  });

  await knex.schema.createTable('appointments', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('patient_id').notNullable().references('patients.id');
    t.text('doctor_id').notNullable().references('doctors.id');
    t.timestamp('start_time', { useTz: true }).notNullable();
    t.timestamp('end_time', { useTz: true }).notNullable();
    t.integer('duration_minutes').notNullable();
    t.text('type').notNullable().defaultTo('consultation');
    t.text('status').notNullable().defaultTo('scheduled');
    t.text('reason');
    t.text('notes');
    t.text('location');
    t.text('source').notNullable().defaultTo('api');
    t.text('created_by');
    t.text('cancellation_reason');
    t.text('cancelled_by');
    t.timestamp('cancelled_at', { useTz: true });
    t.timestamp('confirmed_at', { useTz: true });
    t.timestamp('completed_at', { useTz: true });
    t.timestamp('no_show_at', { useTz: true });
    t.text('rescheduled_from');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'doctor_id', 'start_time']);
    t.index(['organization_id', 'patient_id', 'start_time']);
    t.index(['organization_id', 'start_time']);
  });
  await knex.raw(`ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('scheduled', 'confirmed', 'completed', 'cancelled', 'no_show'))`);
  await knex.raw(`ALTER TABLE appointments ADD CONSTRAINT appointments_duration_check CHECK (duration_minutes IN (15, 30, 45, 60))`);
  await knex.raw(`ALTER TABLE appointments ADD CONSTRAINT appointments_end_after_start CHECK (end_time > start_time)`);
  // The invariant that makes double booking impossible, whatever the concurrency.
  await knex.raw(`ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap
    EXCLUDE USING gist (doctor_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)
    WHERE (status IN ('scheduled', 'confirmed'))`);

  await knex.schema.createTable('events', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('event').notNullable();
    t.text('subject_id');
    t.jsonb('data').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('processed_at', { useTz: true });
    t.index(['organization_id', 'created_at']);
  });
  await knex.raw('CREATE INDEX events_unprocessed ON events (created_at) WHERE processed_at IS NULL');

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('organization_id').notNullable();
    t.text('key').notNullable();
    t.text('method').notNullable();
    t.text('path').notNullable();
    t.integer('status_code');
    t.jsonb('response');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['organization_id', 'key']);
  });

  // Process-wide secrets generated on first start when configuration gives none
  // (the JWT signing key), shared by every instance on this database.
  await knex.schema.createTable('system_settings', (t) => {
    t.text('key').primary();
    t.text('value').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['system_settings', 'idempotency_keys', 'events', 'appointments', 'doctors', 'patients', 'password_resets', 'refresh_tokens', 'api_keys', 'users', 'organizations']) {
    await knex.schema.dropTableIfExists(table);
  }
}
