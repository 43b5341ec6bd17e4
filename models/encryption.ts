/**
 * Free text about patients at rest (lib/encryption.ts): message content,
 * ticket comments and descriptions, patient and appointment notes and the
 * appointment's reason (SEALED_COLUMNS). Each database carries the key ring it
 * was opened with (models/db.ts), found again from any connection or
 * transaction of it, so domain operations seal and open with the `db` they
 * already take. Every writer of those columns seals (sealText, sealColumns);
 * every reader opens (the models after a find, through their static
 * sealedColumns; openColumns where a raw statement or a RETURNING read them).
 *
 * Rotation: a new key goes first in ENCRYPTION_KEYS, the old ones stay; the
 * housekeeping job then re-seals the organization's rows that are not under
 * the primary key (rewrapSealedRows), a batch at a time, and
 * GET /system/encryption/status shows when none are left, after which an old
 * key may be removed.
 */
import type { Knex } from 'knex';
import { KeyRing, SEALED_PREFIX, sealedKeyId, UNREADABLE } from '../lib/encryption.js';
import type { Db, OrgScope } from './base.js';

const rings = new WeakMap<object, KeyRing>();
/** A transaction's client shares the config object of the client it came from (as models/preparedStatements.ts relies on). */
const configOf = (db: Db): object => (db as unknown as { client: { config: object } }).client.config;

/** Seal with `ring` what is written through this database from now on (null: plaintext). */
export function useKeyRing(db: Db, ring: KeyRing | null): void {
  if (ring) rings.set(configOf(db), ring);
  else rings.delete(configOf(db));
}

export function keyRingOf(db: Db): KeyRing | undefined {
  return rings.get(configOf(db));
}

/** The value to store for `text`: sealed under the primary key, or as it is when the database has no key ring. */
export function sealText(db: Db, text: string): string {
  return keyRingOf(db)?.seal(text) ?? text;
}

/** The text of a stored value (sealed or from before encryption). Without a key ring a sealed value cannot be read. */
export function openText(db: Db, stored: string): string {
  const ring = keyRingOf(db);
  if (ring) return ring.open(stored);
  return sealedKeyId(stored) === null ? stored : UNREADABLE;
}

/** Records when the primary key first sealed (idempotent): the status's last rotation. */
export async function recordPrimaryKeyInUse(db: Db, now: Date): Promise<void> {
  const ring = keyRingOf(db);
  if (!ring) return;
  await (db as Knex).raw('INSERT INTO encryption_keys (id, first_used_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', [ring.primaryId, now]);
}

/** Seals, in place, the string values of `columns` in a row about to be written (null and absent stay as they are). */
export function sealColumns<T extends object>(db: Db, row: T, columns: readonly string[]): T {
  const ring = keyRingOf(db);
  if (!ring) return row;
  const r = row as Record<string, unknown>;
  for (const c of columns) if (typeof r[c] === 'string') r[c] = ring.seal(r[c] as string);
  return row;
}

/** Opens, in place, the string values of `columns` in a row read from the database. */
export function openColumns<T extends object>(db: Db, row: T, columns: readonly string[]): T {
  const r = row as Record<string, unknown>;
  for (const c of columns) if (typeof r[c] === 'string') r[c] = openText(db, r[c] as string);
  return row;
}

/**
 * Free text an event's data carries (ticket.resolved's resolution): sealed in
 * the events table like its column, opened when a webhook delivery is signed
 * (the receiver gets it as written, over TLS, signed).
 */
const SEALED_EVENT_FIELDS = ['resolution'] as const;

/** `data` to store as an event's: its free-text fields sealed. */
export function sealEventData(db: Db, data: unknown): unknown {
  if (!data || typeof data !== 'object' || !keyRingOf(db)) return data;
  return sealColumns(db, { ...(data as Record<string, unknown>) }, SEALED_EVENT_FIELDS);
}

/** An event's stored data as a webhook receiver gets it: its sealed fields opened. */
export function openEventData(db: Db, data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  return openColumns(db, { ...(data as Record<string, unknown>) }, SEALED_EVENT_FIELDS);
}

/** Every column stored sealed: free text a patient wrote or that is about a patient. */
export const SEALED_COLUMNS = [
  { table: 'messages', column: 'content' },
  { table: 'ticket_comments', column: 'content' },
  { table: 'tickets', column: 'description' },
  { table: 'tickets', column: 'resolution' },
  { table: 'patients', column: 'notes' },
  { table: 'appointments', column: 'notes' },
  { table: 'appointments', column: 'reason' },
  // A voice message's audio (base64 inside the sealed text: up to 5 MB of audio, about 9 MB stored) and its transcription.
  { table: 'media_files', column: 'data' },
  { table: 'media_files', column: 'transcription' },
] as const;
export type SealedColumn = (typeof SEALED_COLUMNS)[number];

/** The sealed columns of one table (a model's static sealedColumns). */
export const sealedColumnsOf = (table: SealedColumn['table']): readonly string[] => SEALED_COLUMNS.filter((c) => c.table === table).map((c) => c.column);
/** `table.column`, the key of a column's counts in the status. */
export type SealedColumnName = `${SealedColumn['table']}.${SealedColumn['column']}`;
const nameOf = (c: SealedColumn): SealedColumnName => `${c.table}.${c.column}` as SealedColumnName;
/** Every stored place of sealed values, for the status and re-sealing: each sealed column, and each event field (`events.resolution`). */
export type SealedValueName = SealedColumnName | `events.${(typeof SEALED_EVENT_FIELDS)[number]}`;

/**
 * Where sealed values are stored, as SQL: the value (`value`), the rows that
 * can hold one (`holds`), and the assignment that writes `v.value` back.
 */
interface SealedPlace { name: SealedValueName; table: string; value: string; holds: string; assign: string; maxBatch?: number }
/** Audio files re-sealed per statement at most: a batch of them is held in memory whole, several times over. */
const MEDIA_REWRAP_BATCH = 8;
const SEALED_PLACES: readonly SealedPlace[] = [
  ...SEALED_COLUMNS.map((c) => ({
    name: nameOf(c), table: c.table, value: c.column, holds: 'true', assign: `${c.column} = v.value`,
    ...(c.table === 'media_files' && c.column === 'data' ? { maxBatch: MEDIA_REWRAP_BATCH } : {}),
  })),
  // Inside events.data, kept as long as the events: a key removed after the status said the rotation was complete must
  // not leave them unreadable. events_sealed_fields (migration 022) indexes the few events that carry one.
  ...SEALED_EVENT_FIELDS.map((f) => ({
    name: `events.${f}` as const, table: 'events', value: `(data->>'${f}')`, holds: `(data->>'${f}') IS NOT NULL`,
    assign: `data = jsonb_set(data, '{${f}}', to_jsonb(v.value))`,
  })),
];

/** SQL on a row's sealed `value`: true when it holds a value not sealed under the primary key (the rows to re-seal). */
const notUnderPrimary = (ring: KeyRing, value: string) => ({ sql: `left(${value}, ?) <> ?`, bindings: [ring.primaryPrefix.length, ring.primaryPrefix] });

/** SQL aggregates over a sealed `column`: total (values, not nulls), encrypted (under any key), under_primary (false without a ring). */
function sealedCounts(ring: KeyRing | undefined, column: string): { sql: string; bindings: Knex.Value[] } {
  const prefix = ring?.primaryPrefix ?? '';
  return {
    sql: `count(${column})::int AS total, (count(*) FILTER (WHERE left(${column}, ${SEALED_PREFIX.length}) = '${SEALED_PREFIX}'))::int AS encrypted,
      (count(*) FILTER (WHERE ? <> '' AND left(${column}, ?) = ?))::int AS under_primary`,
    bindings: [prefix, prefix.length, prefix],
  };
}

/** Rows re-sealed per statement by rewrapSealedRows. */
export const REWRAP_BATCH = 500;

/**
 * Re-seals up to `limit` of the organization's values of one sealed column
 * (default message content) that are not under the primary key (plaintext
 * from before encryption, or an older key), oldest id first after `afterId`.
 * Returns how many were re-sealed and the last id read (the next batch's
 * `afterId`; null when the batch was the last).
 */
export async function rewrapSealedRows(db: Db, scope: OrgScope, opts: { afterId?: string; limit?: number; column?: SealedValueName } = {}): Promise<{ rewrapped: number; nextAfterId: string | null }> {
  const ring = keyRingOf(db);
  if (!ring) return { rewrapped: 0, nextAfterId: null };
  const { table, value, holds, assign, maxBatch } = SEALED_PLACES.find((p) => p.name === (opts.column ?? 'messages.content'))!;
  const limit = Math.min(opts.limit ?? REWRAP_BATCH, maxBatch ?? Infinity);
  const pending = notUnderPrimary(ring, value);
  return (db as Knex).transaction(async (trx) => {
    const rows = (await trx.raw(
      `SELECT id, ${value} AS value FROM ${table}
       WHERE organization_id = ? AND id > ? AND ${holds} AND ${pending.sql}
       ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
      [scope.organizationId, opts.afterId ?? '', ...pending.bindings, limit],
    )) as { rows: { id: string; value: string }[] };
    // A value no configured key opens stays as it is: re-sealing the placeholder would lose it for good.
    const resealed = rows.rows
      .map((r) => ({ id: r.id, plain: ring.open(r.value) }))
      .filter((r) => r.plain !== UNREADABLE)
      .map((r) => ({ id: r.id, value: ring.seal(r.plain) }));
    if (resealed.length > 0) {
      await trx.raw(
        `UPDATE ${table} m SET ${assign}
         FROM jsonb_to_recordset(?::jsonb) AS v(id text, value text)
         WHERE m.id = v.id AND m.organization_id = ?`,
        [JSON.stringify(resealed), scope.organizationId],
      );
    }
    const last = rows.rows[rows.rows.length - 1];
    return { rewrapped: resealed.length, nextAfterId: rows.rows.length === limit && last ? last.id : null };
  });
}

export interface SealedCounts { total: number; encrypted: number; underPrimaryKey: number }

export interface EncryptionStatus {
  enabled: boolean;
  primaryKeyId: string | null;
  keyIds: string[];
  lastRotation: Date | null;
  /** The organization's values of each sealed column and event field (nulls not counted). */
  columns: Record<SealedValueName, SealedCounts>;
  /** Conversations with messages, every one of them sealed. */
  encryptedConversations: number;
  /** Patients with messages, every one of them sealed. */
  encryptedPatients: number;
}

/** The organization's share of sealed free text, column by column, and the key ring in service. */
export async function encryptionStatus(db: Db, scope: OrgScope): Promise<EncryptionStatus> {
  const ring = keyRingOf(db);
  const k = db as Knex;
  const orgId = scope.organizationId;
  const sealed = `left(content, ${SEALED_PREFIX.length}) = '${SEALED_PREFIX}'`;
  const whole = (await k.raw(
    `WITH m AS (
       SELECT conversation_id, patient_id, ${sealed} AS sealed FROM messages WHERE organization_id = ?
     )
     SELECT (SELECT count(*) FROM (SELECT 1 FROM m WHERE conversation_id IS NOT NULL GROUP BY conversation_id HAVING bool_and(sealed)) c)::int AS conversations,
            (SELECT count(*) FROM (SELECT 1 FROM m WHERE patient_id IS NOT NULL GROUP BY patient_id HAVING bool_and(sealed)) p)::int AS patients,
            (SELECT first_used_at FROM encryption_keys WHERE id = ?) AS last_rotation`,
    [orgId, ring?.primaryId ?? ''],
  )) as { rows: { conversations: number; patients: number; last_rotation: Date | string | null }[] };
  // One statement: a subquery per column, each reading only its table's rows of the organization.
  const parts = SEALED_PLACES.map((p) => ({ p, counts: sealedCounts(ring, p.value) }));
  const counted = (await k.raw(
    parts.map(({ p, counts }) => `(SELECT '${p.name}' AS name, ${counts.sql} FROM ${p.table} WHERE organization_id = ? AND ${p.holds})`).join(' UNION ALL '),
    parts.flatMap(({ counts }) => [...counts.bindings, orgId]),
  )) as { rows: { name: SealedValueName; total: number; encrypted: number; under_primary: number }[] };
  const row = whole.rows[0]!;
  return {
    enabled: Boolean(ring),
    primaryKeyId: ring?.primaryId ?? null,
    keyIds: ring?.ids ?? [],
    lastRotation: row.last_rotation ? new Date(row.last_rotation) : null,
    columns: Object.fromEntries(counted.rows.map((r) => [r.name, { total: r.total, encrypted: r.encrypted, underPrimaryKey: r.under_primary }])) as Record<SealedValueName, SealedCounts>,
    encryptedConversations: row.conversations,
    encryptedPatients: row.patients,
  };
}

/**
 * Re-seals, column by column and event field by event field (SEALED_PLACES), organization by
 * organization, the values not under the primary key, up to `maxRows` in all
 * (the housekeeping job's share of one tick; the next tick goes on). Returns
 * how many were re-sealed.
 */
export async function resealAllOrganizations(db: Db, opts: { maxRows: number; batchSize?: number }): Promise<number> {
  const ring = keyRingOf(db);
  if (!ring) return 0;
  let total = 0;
  for (const place of SEALED_PLACES) {
    // The organizations with anything to re-seal (one scan), then each one's rows by its own statements.
    const pending = notUnderPrimary(ring, place.value);
    const found = (await (db as Knex).raw(`SELECT DISTINCT organization_id FROM ${place.table} WHERE ${place.holds} AND ${pending.sql} ORDER BY organization_id`,
      pending.bindings)) as { rows: { organization_id: string }[] };
    for (const { organization_id: organizationId } of found.rows) {
      let afterId: string | undefined;
      do {
        const limit = Math.min(opts.batchSize ?? REWRAP_BATCH, opts.maxRows - total);
        if (limit <= 0) return total;
        const batch = await rewrapSealedRows(db, { organizationId }, { afterId, limit, column: place.name });
        total += batch.rewrapped;
        afterId = batch.nextAfterId ?? undefined;
      } while (afterId);
    }
  }
  return total;
}
