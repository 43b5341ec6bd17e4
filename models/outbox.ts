/**
 * The outbox queries the dispatcher runs: claim a batch with SKIP LOCKED (a
 * claim whose lease expired is taken again: crash safety), then record each
 * result. Every record is guarded by the claim (a live claim and the attempt
 * number that claimed it), so a late or duplicate worker changes nothing.
 *
 * A claim is a lease, not a status: the row stays 'queued' and gets
 * claimed_until (and attempts + 1). No indexed column changes, so the claim is
 * a heap-only update: no new entry in any of the table's eleven indexes, and
 * no dead one left in the outbox indexes for the next claim to walk past. Readers show
 * a queued row under a live lease as 'sending' (isSending).
 */
import type { Knex } from 'knex';
import { recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { openText } from './encryption.js';
import { withTransaction, type Message, type MessageOption, type QueueOutboundInput } from './messages.js';

/** A claimed outbound row, with what the dispatcher needs to decide at send time. */
export interface ClaimedMessage {
  id: string;
  organization_id: string;
  conversation_id: string | null;
  patient_id: string | null;
  channel: string;
  sender: 'assistant' | 'staff' | 'system';
  content: string;
  options: MessageOption[] | null;
  to_address: string;
  /** The attempt this claim is (1 for the first); it fences the record calls. */
  attempts: number;
  max_attempts: number;
  metadata: Record<string, unknown>;
  batch_id: string | null;
  reminder_id: string | null;
  provider_message_id: string | null;
  created_at: Date;
  /** patients.opted_out_at is set at claim time. */
  patient_opted_out: boolean;
}

export interface ClaimOptions {
  limit: number;
  leaseSeconds: number;
  now: Date;
  /** Only these channels (the ones this instance can send on). */
  channels?: readonly string[];
  /** Only these organizations (sharding by tenant; tests). */
  organizationIds?: readonly string[];
  /** Leave bulk sends (batch rows) out: a claim beside rounds that are sending a campaign. */
  excludeBulk?: boolean;
}

export interface ClaimResult {
  /** Claimed, in queue order. */
  messages: ClaimedMessage[];
  /** Due messages this claim passed over because an earlier one to the same recipient was still being sent: claim again when it is done. */
  heldBack: number;
}

/** The claim's statement and bindings (knex placeholders); null when the options leave nothing to claim. */
export function claimStatement(opts: ClaimOptions): { sql: string; bindings: Knex.Value[] } | null {
  const filters: string[] = [];
  const bindings: Knex.Value[] = [opts.now, opts.now];
  if (opts.channels) {
    if (opts.channels.length === 0) return null;
    filters.push(`AND channel = ANY(?::text[])`);
    bindings.push([...opts.channels]);
  }
  if (opts.organizationIds) {
    if (opts.organizationIds.length === 0) return null;
    filters.push(`AND organization_id = ANY(?::text[])`);
    bindings.push([...opts.organizationIds]);
  }
  if (opts.excludeBulk) filters.push('AND batch_id IS NULL');
  const claimedUntil = new Date(opts.now.getTime() + opts.leaseSeconds * 1000);
  return {
    sql: `WITH cand AS (
       SELECT id, organization_id, channel, to_address, created_at, batch_id FROM messages
       WHERE direction = 'outbound'
         AND status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND (claimed_until IS NULL OR claimed_until < ?)
         ${filters.join(' ')}
       -- Bulk sends last (messages_outbox_queue): replies, staff messages and reminders never wait behind a campaign.
       ORDER BY (batch_id IS NOT NULL), created_at, id
       LIMIT ?
       FOR UPDATE SKIP LOCKED
     ), ready AS (
       SELECT c.id FROM cand c
       WHERE NOT EXISTS (
         SELECT 1 FROM messages e
         -- No direction here, on purpose: only messages_outbox_recipient (status = 'queued') can serve this probe, not
         -- the queue-order index, which statistics of a busy outbox to few addresses once made look as cheap. A
         -- queued message is outbound by the table's constraint (migration 017).
         WHERE e.status = 'queued'
           AND e.organization_id = c.organization_id AND e.channel = c.channel AND e.to_address = c.to_address
           AND (e.created_at, e.id) < (c.created_at, c.id)
           -- A bulk message waiting for its turn holds back only later bulk messages: a reply goes before it.
           AND (c.batch_id IS NOT NULL OR e.batch_id IS NULL)
           AND (e.claimed_until >= ? OR e.next_attempt_at IS NULL OR e.next_attempt_at <= ?)
           AND e.id NOT IN (SELECT id FROM cand)
         -- OFFSET 0 keeps this a per-candidate probe of the recipient's entries (Index Cond on the recipient). As an
         -- anti-join, the generic plan of a mostly empty outbox read the whole partial index once per candidate:
         -- 191 candidates x 291 entries = 66k buffer reads and 50 ms per claim under chat load.
         OFFSET 0)
     ), upd AS (
       UPDATE messages SET claimed_until = ?, attempts = attempts + 1, updated_at = ?
       WHERE id IN (SELECT id FROM ready)
       RETURNING id, organization_id, conversation_id, patient_id, channel, sender, content, options, to_address, attempts, max_attempts,
         metadata, batch_id, reminder_id, provider_message_id, created_at,
         coalesce((SELECT p.opted_out_at IS NOT NULL FROM patients p WHERE p.id = messages.patient_id), false) AS patient_opted_out
     ), relaxed AS (
       -- The claim commits without waiting for its WAL to reach the disk: the reply it claims goes out one flush sooner.
       -- A database crash can undo only a claim whose send was not recorded yet (the record waits for the flush and
       -- brings the claim along). The row is then queued and unclaimed, and sent again as a first attempt: at least
       -- once, as after any crash mid-send, but without asking the provider first (findSent asks on later attempts).
       SELECT set_config('synchronous_commit', 'off', true)
     )
     -- One row even when nothing was claimed, to carry the count of candidates.
     SELECT u.*, n.candidates FROM (SELECT count(*)::int AS candidates FROM cand) n CROSS JOIN relaxed LEFT JOIN upd u ON true`,
    bindings: [...bindings, opts.limit, opts.now, opts.now, claimedUntil, opts.now],
  };
}

/**
 * Claims up to `limit` due outbound messages in one statement: queued, due, and
 * not under a live lease (never claimed, or a claim that expired). Sets
 * claimed_until = now + lease, attempts + 1. Concurrent claimers skip each other's rows.
 * Per-recipient order across instances: a message is passed over (left
 * queued, claimed later) while an earlier one to the same address is outside
 * this claim and still due or being sent: locked by a concurrent claim, or
 * under a live lease. A retry waiting for its backoff (or a message
 * not due yet) does not hold the later ones back.
 */
export async function claimOutbound(db: Db, opts: ClaimOptions): Promise<ClaimResult> {
  const statement = claimStatement(opts);
  if (!statement) return { messages: [], heldBack: 0 };
  const result = (await (db as Knex).raw(statement.sql, statement.bindings)) as { rows: (ClaimedMessage & { candidates: number })[] };
  const candidates = result.rows[0]?.candidates ?? 0;
  const messages: ClaimedMessage[] = result.rows.filter((r) => r.id !== null).map(({ candidates: _, ...m }) => ({ ...m, content: openText(db, m.content) }));
  // RETURNING gives no order; keep the queue's (bulk last).
  messages.sort((a, b) => Number(a.batch_id !== null) - Number(b.batch_id !== null)
    || new Date(a.created_at).getTime() - new Date(b.created_at).getTime() || (a.id < b.id ? -1 : 1));
  return { messages, heldBack: candidates - messages.length };
}

/**
 * A reply its own statement claimed as it stored it (ClaimAtInsert), as the
 * claim would have returned it: the first attempt, with the text still in the clear.
 */
export function claimedAtInsert(scope: OrgScope, stored: { id: string; reply: QueueOutboundInput; patientOptedOut: boolean }, now: Date): ClaimedMessage {
  const r = stored.reply;
  return {
    id: stored.id, organization_id: scope.organizationId, conversation_id: r.conversationId ?? null, patient_id: r.patientId ?? null,
    channel: r.channel, sender: r.sender, content: r.text, options: r.options?.length ? r.options : null, to_address: r.to,
    attempts: 1, max_attempts: r.maxAttempts ?? 5, metadata: r.metadata ?? {}, batch_id: r.batchId ?? null, reminder_id: r.reminderId ?? null,
    provider_message_id: null, created_at: r.now ?? now, patient_opted_out: stored.patientOptedOut,
  };
}

/** Identifies the claim a record call belongs to: the row id and the attempt number that claimed it. */
export interface ClaimRef { id: string; attempts: number }

/** The row while `claim` still holds it: queued and claimed (a released claim has no lease) by that attempt. */
function underClaim(q: Knex.QueryBuilder, claim: ClaimRef): Knex.QueryBuilder {
  return q.where({ id: claim.id, attempts: claim.attempts, status: 'queued' }).whereNotNull('claimed_until');
}

/** Whether an outbound row is being sent at `now`: queued under a live claim (see the header). */
export function isSending(m: { status: string; claimed_until?: Date | string | null }, now: Date): boolean {
  return m.status === 'queued' && m.claimed_until != null && new Date(m.claimed_until).getTime() > now.getTime();
}

/** The status readers see: 'sending' for a row under a live claim, else the stored one. */
export function visibleStatus<S extends string>(m: { status: S; claimed_until?: Date | string | null }, now = new Date()): S | 'sending' {
  return isSending(m, now) ? 'sending' : m.status;
}

async function guardedUpdate(trx: Knex.Transaction, claim: ClaimRef, patch: Record<string, unknown>): Promise<Message | null> {
  const rows = (await underClaim(trx('messages'), claim).update({ ...patch, claimed_until: null, updated_at: trx.fn.now() }).returning('*')) as Message[];
  return rows[0] ?? null;
}

function eventData(m: Message, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    message_id: m.id, conversation_id: m.conversation_id, patient_id: m.patient_id, channel: m.channel,
    batch_id: m.batch_id, reminder_id: m.reminder_id, status: m.status, ...extra,
  };
}

/**
 * Records a successful send (status sent, or delivered when the channel knows
 * at once) with the provider's id; event communication.sent. Returns false
 * when the claim was lost (the row is no longer ours) and nothing changed.
 */
export async function markSent(db: Db, claim: ClaimRef, providerMessageId: string | null, status: 'sent' | 'delivered' = 'sent', at = new Date()): Promise<boolean> {
  const recorded = await markSentMany(db, [{ claim, providerMessageId, status, at }]);
  return recorded.has(claim.id);
}

export interface SentRecord { claim: ClaimRef; providerMessageId: string | null; status: 'sent' | 'delivered'; at: Date }

/**
 * markSent for many claims in ONE statement (atomic without a transaction):
 * each row is updated only while the claim is still ours (a live claim of the
 * same attempt), and the rows updated get their events (communication.sent, and
 * communication.delivered when delivered at once). Returns the ids recorded.
 */
export async function markSentMany(db: Db, records: readonly SentRecord[]): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  const result = (await (db as Knex).raw(
    // One JSON parameter rather than an array per column: unnest's row estimate follows the arrays' lengths, so every
    // run was planned anew for its own count (a quarter of a millisecond each); jsonb_to_recordset's does not, and
    // the prepared statement keeps one plan.
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset(?::jsonb)
         AS t(id text, attempts int, provider_message_id text, status text, at timestamptz, sent_event_id text, delivered_event_id text)
     ), upd AS (
       UPDATE messages m SET status = i.status, provider_message_id = i.provider_message_id, sent_at = i.at,
         delivered_at = CASE WHEN i.status = 'delivered' THEN i.at ELSE m.delivered_at END,
         last_error = NULL, next_attempt_at = NULL, claimed_until = NULL, updated_at = CURRENT_TIMESTAMP
       FROM input i
       WHERE m.id = i.id AND m.status = 'queued' AND m.claimed_until IS NOT NULL AND m.attempts = i.attempts
       RETURNING m.id, m.organization_id, m.conversation_id, m.patient_id, m.channel, m.batch_id, m.reminder_id, m.status,
         i.sent_event_id, i.delivered_event_id
     ), ev AS (
       INSERT INTO events (id, organization_id, event, subject_id, data)
       SELECT e.id, u.organization_id, e.event, u.id, jsonb_build_object(
           'message_id', u.id, 'conversation_id', u.conversation_id, 'patient_id', u.patient_id, 'channel', u.channel,
           'batch_id', u.batch_id, 'reminder_id', u.reminder_id, 'status', u.status)
       FROM upd u
       CROSS JOIN LATERAL (VALUES (u.sent_event_id, 'communication.sent', 1),
         (CASE WHEN u.status = 'delivered' THEN u.delivered_event_id END, 'communication.delivered', 2)) AS e(id, event, ord)
       WHERE e.id IS NOT NULL
       ORDER BY e.id
     )
     SELECT id FROM upd`,
    [JSON.stringify(records.map((r) => ({
      id: r.claim.id, attempts: r.claim.attempts, provider_message_id: r.providerMessageId, status: r.status, at: r.at.toISOString(),
      sent_event_id: newId('event'), delivered_event_id: newId('event'),
    })))],
  )) as { rows: { id: string }[] };
  return new Set(result.rows.map((r) => r.id));
}

/** Extends a claim that is still ours (same attempt, not released) to `until`; false when it was retaken or finished. */
export async function renewClaim(db: Db, claim: ClaimRef, until: Date): Promise<boolean> {
  const n = await underClaim((db as Knex)('messages'), claim).update({ claimed_until: until });
  return n === 1;
}

/**
 * Gives a claim back untried (its instance is stopping): the row is due again
 * for any instance and the attempt it was claimed for does not count. False
 * when the claim was no longer ours.
 */
export async function releaseClaim(db: Db, claim: ClaimRef): Promise<boolean> {
  const n = await underClaim((db as Knex)('messages'), claim).update({ claimed_until: null, attempts: claim.attempts - 1, updated_at: (db as Knex).fn.now() });
  return n === 1;
}

/** Progress of a split message: parts already sent are not sent again on retry. */
export interface SendProgress { partsSent: number; firstProviderMessageId: string | null }

/** Puts the message back in the queue for another attempt at `nextAttemptAt`, keeping the error visible. */
export async function markRetry(db: Db, claim: ClaimRef, error: string, nextAttemptAt: Date, progress?: SendProgress): Promise<boolean> {
  return withTransaction(db, async (trx) => {
    const patch: Record<string, unknown> = { status: 'queued', last_error: error, next_attempt_at: nextAttemptAt };
    if (progress && progress.partsSent > 0) {
      patch.provider_message_id = progress.firstProviderMessageId;
      patch.metadata = trx.raw(`metadata || ?::jsonb`, [JSON.stringify({ parts_sent: progress.partsSent })]);
    }
    return (await guardedUpdate(trx, claim, patch)) != null;
  });
}

/** Gives up: status failed with the error (after max attempts, a refusal, a disabled channel); event communication.failed. */
export async function markFailed(db: Db, claim: ClaimRef, error: string, at = new Date()): Promise<boolean> {
  return withTransaction(db, async (trx) => {
    const m = await guardedUpdate(trx, claim, { status: 'failed', last_error: error, failed_at: at, next_attempt_at: null });
    if (!m) return false;
    await recordEvent(trx, m.organization_id, 'communication.failed', m.id, eventData(m, { error }), newId('event'));
    return true;
  });
}

/** Not sent on purpose (the patient opted out before it went): status skipped, last_error = reason. */
export async function markSkipped(db: Db, claim: ClaimRef, reason: string): Promise<boolean> {
  return withTransaction(db, async (trx) => (await guardedUpdate(trx, claim, { status: 'skipped', last_error: reason, next_attempt_at: null })) != null);
}

const RANK: Record<string, number> = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4 };

export interface StatusUpdateInput {
  channel: string;
  providerMessageId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed' | 'undelivered';
  errorCode?: string | null;
  at: Date;
  /** When the receipt's account identifies the organization: provider ids are only unique per account. */
  organizationId?: string | null;
}

/**
 * Applies a delivery receipt to the outbound message with that provider id:
 * sent -> delivered -> read, undelivered/failed -> failed, never backwards
 * (a late 'sent' after 'delivered' changes nothing; 'failed' after delivery is
 * ignored). Events communication.delivered / communication.failed. Returns the
 * message's status after the update, or null when no message has that id.
 */
export async function applyStatusUpdate(db: Db, update: StatusUpdateInput): Promise<{ messageId: string; organizationId: string; status: string; changed: boolean } | null> {
  return withTransaction(db, async (trx) => {
    const q = trx('messages').where({ channel: update.channel, provider_message_id: update.providerMessageId, direction: 'outbound' });
    if (update.organizationId) q.where({ organization_id: update.organizationId });
    const m = (await q.orderBy('created_at', 'desc').forUpdate().first()) as Message | undefined;
    if (!m) return null;
    const unchanged = { messageId: m.id, organizationId: m.organization_id, status: m.status, changed: false };
    const target = update.status === 'undelivered' ? 'failed' : update.status;
    if (target === 'failed') {
      if (m.status !== 'sent' && !isSending(m, update.at)) return unchanged;
      const error = `undelivered${update.errorCode ? `: ${update.errorCode}` : ''}`;
      const [row] = (await trx('messages').where({ id: m.id }).update({ status: 'failed', failed_at: update.at, last_error: error, updated_at: trx.fn.now() }).returning('*')) as Message[];
      await recordEvent(trx, m.organization_id, 'communication.failed', m.id, eventData(row, { error, error_code: update.errorCode ?? null }), newId('event'));
      return { ...unchanged, status: 'failed', changed: true };
    }
    if (!(m.status in RANK) || RANK[target] <= RANK[m.status]) return unchanged;
    const patch: Record<string, unknown> = { status: target, updated_at: trx.fn.now() };
    if (target === 'sent' && !m.sent_at) patch.sent_at = update.at;
    if ((target === 'delivered' || target === 'read') && !m.delivered_at) patch.delivered_at = update.at;
    if (target === 'read') patch.read_at = update.at;
    const [row] = (await trx('messages').where({ id: m.id }).update(patch).returning('*')) as Message[];
    if (patch.delivered_at) await recordEvent(trx, m.organization_id, 'communication.delivered', m.id, eventData(row), newId('event'));
    return { ...unchanged, status: target, changed: true };
  });
}
