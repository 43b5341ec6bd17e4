/**
 * `Idempotency-Key` for mutating POSTs (shared/API.md): a retry with the same
 * key returns the first result and does nothing twice.
 *
 * The key is reserved, the operation runs and the result is stored in ONE
 * transaction, so either all of it happened or none of it did. A concurrent
 * duplicate blocks on the reserved key (unique index) until the first commits,
 * then replays its result. A key reused for another endpoint or with another
 * body is a client error (422). Failed requests store nothing: a retry runs again.
 * A key is remembered for a day (IDEMPOTENCY_KEY_TTL_MS); after that it is
 * new again, whether or not housekeeping has deleted it yet.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { AppError, unprocessable, fieldError } from '../../lib/errors.js';
import type { AppDeps } from '../deps.js';
import { IDEMPOTENCY_KEY_TTL_MS } from '../../models/housekeeping.js';
import { requestBodyOf, type HandlerResult } from './route.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

interface StoredRow { method: string; path: string; status_code: number | null; response: StoredResponse | null; created_at: Date }
interface StoredResponse { request_hash: string; result: HandlerResult }

function requestHash(ctx: Context): string {
  return createHash('sha256').update(JSON.stringify(requestBodyOf(ctx) ?? null)).digest('hex');
}

function replay(ctx: Context, row: StoredRow, hash: string): HandlerResult {
  if (row.method !== ctx.method || row.path !== ctx.path) {
    throw unprocessable(`This Idempotency-Key was used for ${row.method} ${row.path}; use a new key for this request`, { header: IDEMPOTENCY_HEADER });
  }
  if (!row.response || row.status_code == null) {
    throw new AppError('CONFLICT', 'A request with this Idempotency-Key is still in progress');
  }
  if (row.response.request_hash !== hash) {
    throw unprocessable('This Idempotency-Key was used with a different request body; use a new key for this request', { header: IDEMPOTENCY_HEADER });
  }
  ctx.set('Idempotent-Replayed', 'true');
  return { ...row.response.result, status: row.status_code };
}

/**
 * Runs `operation` in a transaction, at most once per organization and
 * `Idempotency-Key`; without the header it simply runs in a transaction.
 * The operation must use the transaction it is given for every query.
 */
export async function withIdempotency(
  ctx: Context,
  deps: Pick<AppDeps, 'db' | 'clock'>,
  orgId: string,
  operation: (trx: Knex.Transaction) => Promise<HandlerResult>,
  defaultStatus = 200,
): Promise<HandlerResult> {
  const key = ctx.get(IDEMPOTENCY_HEADER).trim();
  const knex = deps.db.knex;
  if (!key) return knex.transaction(operation);
  if (key.length > 255) throw fieldError(IDEMPOTENCY_HEADER, 'must be at most 255 characters');
  const hash = requestHash(ctx);
  const expiredBefore = new Date(deps.clock.now().getTime() - IDEMPOTENCY_KEY_TTL_MS);
  const find = (db: Knex | Knex.Transaction) =>
    db('idempotency_keys').where({ organization_id: orgId, key })
      .first('method', 'path', 'status_code', 'response', 'created_at') as Promise<StoredRow | undefined>;
  const fresh = (row: StoredRow | undefined) => (row && row.created_at >= expiredBefore ? row : undefined);

  const done = await find(knex);
  if (fresh(done)) return replay(ctx, done!, hash);

  return knex.transaction(async (trx) => {
    // An expired use of this key, not deleted by housekeeping yet, makes way.
    if (done) await trx('idempotency_keys').where({ organization_id: orgId, key }).where('created_at', '<', expiredBefore).delete();
    const reserved = await trx('idempotency_keys')
      .insert({ organization_id: orgId, key, method: ctx.method, path: ctx.path })
      .onConflict(['organization_id', 'key']).ignore().returning('key');
    if (reserved.length === 0) {
      // Another request with this key committed while we waited on its row.
      const row = fresh(await find(trx));
      if (!row) throw new AppError('CONFLICT', 'A request with this Idempotency-Key is still in progress');
      return replay(ctx, row, hash);
    }
    const result = await operation(trx);
    const stored: StoredResponse = { request_hash: hash, result: { data: result.data, ...(result.message ? { message: result.message } : {}), ...(result.pagination ? { pagination: result.pagination } : {}) } };
    await trx('idempotency_keys').where({ organization_id: orgId, key })
      .update({ status_code: result.status ?? defaultStatus, response: JSON.stringify(stored) });
    return result;
  });
}
