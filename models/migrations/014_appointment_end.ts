/**
 * An appointment ends exactly its duration after it starts. The domain
 * operations always wrote it so; the database now holds it, because the
 * doctor's schedule and the slot search bound their range reads by it (an
 * appointment starts at most MAX_DURATION_MINUTES before it ends).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE appointments ADD CONSTRAINT appointments_end_is_start_plus_duration
    CHECK (end_time = start_time + make_interval(mins => duration_minutes))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE appointments DROP CONSTRAINT IF EXISTS appointments_end_is_start_plus_duration');
}
