/**
 * Calls not ended yet, by their last news: the housekeeping job looks for the
 * ones without news for hours (models/calls.ts, endStaleCalls) on every tick,
 * and the calls of every day before stay out of its way.
 */
import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from './concurrentIndex.js';

/** Built without blocking the calls' writes (concurrentIndex.ts): no transaction. */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'calls_open', 'calls (updated_at) WHERE ended_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await dropIndexConcurrently(knex, 'calls_open');
}
