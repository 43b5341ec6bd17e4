/**
 * The events that carry a sealed field (ticket.resolved's resolution): the
 * encryption status counts them and re-sealing after a key rotation walks
 * them by organization and id (models/encryption.ts, SEALED_PLACES), without
 * reading every other event. Few events carry one, so the index stays small.
 */
import type { Knex } from 'knex';
import { createIndexConcurrently, dropIndexConcurrently } from './concurrentIndex.js';

/** Built without blocking the events' writes (concurrentIndex.ts): no transaction. */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, 'events_sealed_fields', `events (organization_id, id) WHERE (data->>'resolution') IS NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await dropIndexConcurrently(knex, 'events_sealed_fields');
}
