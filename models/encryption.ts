/**
 * Free text at rest (lib/encryption.ts): message content and ticket comments
 * (SEALED_TABLES). Each database carries the key ring it was opened with
 * (models/db.ts), found again from any connection or transaction of it, so
 * domain operations seal and open with the `db` they already take. Every
 * writer of those columns seals; every reader opens (the Message and
 * TicketComment models after a find, the raw statements where they read).
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

/** SQL on a row's `content`: true when it is not sealed under the primary key (the rows to re-seal). */
const notUnderPrimary = (ring: KeyRing) => ({ sql: 'left(content, ?) <> ?', bindings: [ring.primaryPrefix.length, ring.primaryPrefix] });

/** SQL columns on a row's `content`: `sealed` (under any key) and `primary_key` (under the primary one; false without a ring). */
function sealedColumns(ring: KeyRing | undefined): { sql: string; bindings: Knex.Value[] } {
  const prefix = ring?.primaryPrefix ?? '';
  return {
    sql: `left(content, ${SEALED_PREFIX.length}) = '${SEALED_PREFIX}' AS sealed, ? <> '' AND left(content, ?) = ? AS primary_key`,
    bindings: [prefix, prefix.length, prefix],
  };
}

/** Rows re-sealed per statement by rewrapSealedRows. */
export const REWRAP_BATCH = 500;

/** The tables whose `content` is sealed: message text, and staff comments on tickets. */
export const SEALED_TABLES = ['messages', 'ticket_comments'] as const;
export type SealedTable = (typeof SEALED_TABLES)[number];

/**
 * Re-seals up to `limit` of the organization's rows of `table` (default
 * messages) whose content is not under the primary key (plaintext from before
 * encryption, or an older key), oldest id first after `afterId`. Returns how
 * many were re-sealed and the last id read (the next batch's `afterId`; null
 * when the batch was the last).
 */
export async function rewrapSealedRows(db: Db, scope: OrgScope, opts: { afterId?: string; limit?: number; table?: SealedTable } = {}): Promise<{ rewrapped: number; nextAfterId: string | null }> {
  const ring = keyRingOf(db);
  if (!ring) return { rewrapped: 0, nextAfterId: null };
  const limit = opts.limit ?? REWRAP_BATCH;
  const table = opts.table ?? 'messages';
  const pending = notUnderPrimary(ring);
  return (db as Knex).transaction(async (trx) => {
    const rows = (await trx.raw(
      `SELECT id, content FROM ${table}
       WHERE organization_id = ? AND id > ? AND ${pending.sql}
       ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
      [scope.organizationId, opts.afterId ?? '', ...pending.bindings, limit],
    )) as { rows: { id: string; content: string }[] };
    // A value no configured key opens stays as it is: re-sealing the placeholder would lose it for good.
    const resealed = rows.rows
      .map((r) => ({ id: r.id, plain: ring.open(r.content) }))
      .filter((r) => r.plain !== UNREADABLE)
      .map((r) => ({ id: r.id, content: ring.seal(r.plain) }));
    if (resealed.length > 0) {
      await trx.raw(
        `UPDATE ${table} m SET content = v.content
         FROM jsonb_to_recordset(?::jsonb) AS v(id text, content text)
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
  messages: SealedCounts;
  ticketComments: SealedCounts;
  /** Conversations with messages, every one of them sealed. */
  encryptedConversations: number;
  /** Patients with messages, every one of them sealed. */
  encryptedPatients: number;
}

/** The organization's share of sealed message content and ticket comments, and the key ring in service. */
export async function encryptionStatus(db: Db, scope: OrgScope): Promise<EncryptionStatus> {
  const ring = keyRingOf(db);
  const k = db as Knex;
  const columns = sealedColumns(ring);
  const result = (await k.raw(
    `WITH m AS (
       SELECT conversation_id, patient_id, ${columns.sql}
       FROM messages WHERE organization_id = ?
     ), conv AS (
       SELECT bool_and(sealed) AS all_sealed FROM m WHERE conversation_id IS NOT NULL GROUP BY conversation_id
     ), pat AS (
       SELECT bool_and(sealed) AS all_sealed FROM m WHERE patient_id IS NOT NULL GROUP BY patient_id
     ), tc AS (
       SELECT ${columns.sql}
       FROM ticket_comments WHERE organization_id = ?
     )
     SELECT (SELECT count(*) FROM m)::int AS total,
            (SELECT count(*) FILTER (WHERE sealed) FROM m)::int AS encrypted,
            (SELECT count(*) FILTER (WHERE primary_key) FROM m)::int AS under_primary,
            (SELECT count(*) FILTER (WHERE all_sealed) FROM conv)::int AS conversations,
            (SELECT count(*) FILTER (WHERE all_sealed) FROM pat)::int AS patients,
            (SELECT count(*) FROM tc)::int AS tc_total,
            (SELECT count(*) FILTER (WHERE sealed) FROM tc)::int AS tc_encrypted,
            (SELECT count(*) FILTER (WHERE primary_key) FROM tc)::int AS tc_under_primary,
            (SELECT first_used_at FROM encryption_keys WHERE id = ?) AS last_rotation`,
    [...columns.bindings, scope.organizationId, ...columns.bindings, scope.organizationId, ring?.primaryId ?? ''],
  )) as { rows: {
    total: number; encrypted: number; under_primary: number; conversations: number; patients: number;
    tc_total: number; tc_encrypted: number; tc_under_primary: number; last_rotation: Date | string | null;
  }[] };
  const row = result.rows[0]!;
  return {
    enabled: Boolean(ring),
    primaryKeyId: ring?.primaryId ?? null,
    keyIds: ring?.ids ?? [],
    lastRotation: row.last_rotation ? new Date(row.last_rotation) : null,
    messages: { total: row.total, encrypted: row.encrypted, underPrimaryKey: row.under_primary },
    ticketComments: { total: row.tc_total, encrypted: row.tc_encrypted, underPrimaryKey: row.tc_under_primary },
    encryptedConversations: row.conversations,
    encryptedPatients: row.patients,
  };
}

/**
 * Re-seals, table by table (SEALED_TABLES) and organization by organization,
 * the rows not under the primary key, up to `maxRows` in all (the
 * housekeeping job's share of one tick; the next tick goes on). Returns how
 * many were re-sealed.
 */
export async function resealAllOrganizations(db: Db, opts: { maxRows: number; batchSize?: number }): Promise<number> {
  const ring = keyRingOf(db);
  if (!ring) return 0;
  let total = 0;
  for (const table of SEALED_TABLES) {
    // The organizations with anything to re-seal (one scan), then each one's rows by its own statements.
    const pending = notUnderPrimary(ring);
    const found = (await (db as Knex).raw(`SELECT DISTINCT organization_id FROM ${table} WHERE ${pending.sql} ORDER BY organization_id`,
      pending.bindings)) as { rows: { organization_id: string }[] };
    for (const { organization_id: organizationId } of found.rows) {
      let afterId: string | undefined;
      do {
        const limit = Math.min(opts.batchSize ?? REWRAP_BATCH, opts.maxRows - total);
        if (limit <= 0) return total;
        const batch = await rewrapSealedRows(db, { organizationId }, { afterId, limit, table });
        total += batch.rewrapped;
        afterId = batch.nextAfterId ?? undefined;
      } while (afterId);
    }
  }
  return total;
}
