/**
 * The doctor's active appointments by start time, carrying what an overlap
 * check reads (end_time), so the slot search and the booking check read only
 * the appointments of the stretch of time they ask about, from the index alone.
 * Until now they asked the exclusion constraint's GiST index (doctor_id plus
 * the time range), which answers the same question at about five times the
 * cost per doctor: a GiST descent compares every entry it passes through the
 * btree_gist and range operators.
 *
 * The range read needs a lower bound on start_time, and migration 014 gives it:
 * an appointment overlapping [s, e) starts after s minus the longest duration
 * (activeOverlapSql).
 */
import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from './concurrentIndex.js';

/** Built without blocking bookings (concurrentIndex.ts): no transaction. */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'appointments_active_by_doctor',
    `appointments (organization_id, doctor_id, start_time) INCLUDE (end_time) WHERE status IN ('scheduled', 'confirmed')`);
}

export async function down(knex: Knex): Promise<void> {
  await dropIndexConcurrently(knex, 'appointments_active_by_doctor');
}
