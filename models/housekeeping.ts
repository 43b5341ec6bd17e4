/**
 * Records kept only for a while: an Idempotency-Key replays its first result
 * for a day (as Stripe's do), a password-reset link is useless once expired,
 * and a finished webhook delivery is history an integrator reads for a month.
 * Deleted in batches (short transactions, no long locks) by
 * schedulers/housekeeping.ts; the events themselves are kept.
 */
import type { Knex } from 'knex';
import type { Db } from './base.js';

export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;
export const WEBHOOK_DELIVERY_RETENTION_MS = 30 * 24 * 3_600_000;

export interface PurgeCounts {
  idempotency_keys: number;
  password_resets: number;
  webhook_deliveries: number;
}

/** Deletes up to `limit` rows of `table` matching `where` (its own statement); returns how many. */
async function deleteBatch(db: Db, table: string, key: string, where: string, bindings: unknown[], limit: number): Promise<number> {
  const result = (await (db as Knex).raw(
    `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE ${where} LIMIT ?) RETURNING ${key}`,
    [...bindings, limit] as Knex.RawBinding[],
  )) as { rows: unknown[] };
  return result.rows.length;
}

/** One batch of each kind; the job repeats while any batch came back full. */
export async function purgeExpiredRecords(db: Db, opts: { now: Date; limit: number }): Promise<PurgeCounts> {
  const ago = (ms: number) => new Date(opts.now.getTime() - ms);
  return {
    idempotency_keys: await deleteBatch(db, 'idempotency_keys', 'key', 'created_at < ?', [ago(IDEMPOTENCY_KEY_TTL_MS)], opts.limit),
    password_resets: await deleteBatch(db, 'password_resets', 'id', 'expires_at < ?', [opts.now], opts.limit),
    webhook_deliveries: await deleteBatch(db, 'webhook_deliveries', 'id', "status <> 'pending' AND updated_at < ?", [ago(WEBHOOK_DELIVERY_RETENTION_MS)], opts.limit),
  };
}
