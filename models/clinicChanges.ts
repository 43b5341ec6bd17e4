/**
 * "This clinic's doctors or settings changed", told to every instance: the
 * conversation engines cache what a turn needs to know about a clinic
 * (bot/runtime/context.ts) and drop it when told. A NOTIFY sent in the
 * transaction of the change is delivered when it commits, never before.
 */
import type { Knex } from 'knex';
import type { Db } from './base.js';

export const CLINIC_CHANGED_CHANNEL = 'carechat_clinic';

export async function notifyClinicChanged(db: Db, organizationId: string): Promise<void> {
  await (db as Knex).raw('select pg_notify(?, ?)', [CLINIC_CHANGED_CHANNEL, organizationId]);
}
