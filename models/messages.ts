/**
 * Messages: every inbound message and every outbound one (the outbox). An
 * outbound message is always stored first (status `queued`) in the caller's
 * transaction; the dispatcher (channels/dispatcher.ts) sends it after commit.
 */
import type { Knex } from 'knex';
import { BaseModel, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { ACTIVITY_RESOLUTION } from './patients.js';
import { sealText, sealedColumnsOf } from './encryption.js';

export type MessageDirection = 'inbound' | 'outbound';
export type MessageSender = 'patient' | 'assistant' | 'staff' | 'system';
export type MessageStatus = 'received' | 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'skipped' | 'cancelled';
export interface MessageOption { value: string; label: string }

/**
 * What a message asks its recipient for, kept in its metadata for the channel:
 * `ask: { kind: 'phone', label }` on the phone question (a channel with a
 * share-my-number control offers it, labelled so: Telegram's contact
 * keyboard), `ask_closed: 'phone'` on the reply that follows the answer (such
 * a channel removes the control). Other channels ignore both: the text asks.
 */
export interface MessageAsk { kind: 'phone'; label: string }

/**
 * The key of the conversation's dialogue state data that says a channel's
 * share-my-number control is showing (set by the engine when it asks; see
 * bot/runtime/asks.ts): the next message that can carry `ask_closed` does.
 */
export const OPEN_ASK_KEY = 'openAsk';

/** Whether a stored dialogue state (a whole dialogue, or a new conversation's carried ask alone) has the phone ask open. */
export function phoneAskOpen(dialogueState: unknown): boolean {
  const data = dialogueState && typeof dialogueState === 'object' ? (dialogueState as { data?: unknown }).data : undefined;
  return !!data && typeof data === 'object' && (data as Record<string, unknown>)[OPEN_ASK_KEY] === 'phone';
}

/** The ask and ask_closed of a message's metadata, when well formed. */
export function messageAsks(metadata: Record<string, unknown> | null | undefined): { ask: MessageAsk | null; askClosed: 'phone' | null } {
  const a = metadata?.ask as Partial<MessageAsk> | undefined;
  return {
    ask: a && a.kind === 'phone' && typeof a.label === 'string' && a.label.trim() ? { kind: 'phone', label: a.label } : null,
    askClosed: metadata?.ask_closed === 'phone' ? 'phone' : null,
  };
}

export class Message extends BaseModel {
  static override tableName = 'messages';
  static override jsonAttributes = ['options', 'metadata'];
  id!: string;
  organization_id!: string;
  conversation_id!: string | null;
  patient_id!: string | null;
  channel!: string;
  direction!: MessageDirection;
  sender!: MessageSender;
  sender_user_id!: string | null;
  content_type!: string;
  content!: string;
  options!: MessageOption[] | null;
  to_address!: string | null;
  from_address!: string | null;
  status!: MessageStatus;
  provider_message_id!: string | null;
  client_message_id!: string | null;
  attempts!: number;
  max_attempts!: number;
  next_attempt_at!: Date | null;
  claimed_until!: Date | null;
  last_error!: string | null;
  batch_id!: string | null;
  reminder_id!: string | null;
  metadata!: Record<string, unknown>;
  sent_at!: Date | null;
  delivered_at!: Date | null;
  read_at!: Date | null;
  failed_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;

  /** Content is stored sealed (models/encryption.ts): opened with the key ring of the database it was read from. */
  static override sealedColumns = sealedColumnsOf('messages');
}

/** Runs `fn` in the caller's transaction when `db` is one, otherwise in a new one. */
export async function withTransaction<T>(db: Db, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const maybeTrx = db as Knex.Transaction;
  if (maybeTrx.isTransaction) return fn(maybeTrx);
  return (db as Knex).transaction(fn);
}

export interface StoreInboundInput {
  conversationId: string;
  patientId: string | null;
  channel: string;
  /** The sender's address on the channel (E.164, chat id, web chat session id). */
  from: string;
  text: string;
  /** Provider's id: unique per organization and channel. */
  providerMessageId: string | null;
  /** Client-chosen id (web chat): unique per conversation. */
  clientMessageId?: string | null;
  contentType?: string;
  receivedAt: Date;
  metadata?: Record<string, unknown>;
}

/**
 * Stores an inbound message once: a redelivery with the same provider id (or
 * client id in the same conversation) returns the stored row with
 * `duplicate: true` and changes nothing. Only a new message bumps the
 * conversation's message_count / last_message_at and the patient's activity.
 */
export async function storeInboundMessage(db: Db, scope: OrgScope, input: StoreInboundInput): Promise<{ message: Message; duplicate: boolean }> {
  const k = db as Knex;
  const orgId = scope.organizationId;
  // One statement: the insert, and only when it inserted, the conversation's counters and the patient's activity.
  const inserted = (await k.raw(
    `WITH ins AS (
       INSERT INTO messages (id, organization_id, conversation_id, patient_id, channel, direction, sender, content_type, content,
         from_address, status, provider_message_id, client_message_id, metadata, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'inbound', 'patient', ?, ?, ?, 'received', ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING RETURNING *
     ), conv AS (
       UPDATE conversations SET message_count = message_count + 1, last_message_at = greatest(last_message_at, ?), updated_at = CURRENT_TIMESTAMP
       WHERE id = ? AND organization_id = ? AND EXISTS (SELECT 1 FROM ins)
     ), pat AS (
       UPDATE patients SET last_activity_at = ?
       WHERE id = ? AND organization_id = ? AND EXISTS (SELECT 1 FROM ins) AND last_activity_at < ?::timestamptz - interval '${ACTIVITY_RESOLUTION}'
     )
     SELECT * FROM ins`,
    [newId('message'), orgId, input.conversationId, input.patientId, input.channel, input.contentType ?? 'text', sealText(db, input.text),
      input.from, input.providerMessageId, input.clientMessageId ?? null, JSON.stringify(input.metadata ?? {}), input.receivedAt, input.receivedAt,
      input.receivedAt, input.conversationId, orgId,
      input.receivedAt, input.patientId, orgId, input.receivedAt],
  )) as { rows: Record<string, unknown>[] };

  if (inserted.rows.length === 0) {
    const inbound = () => Message.query(db).where({ organization_id: orgId, direction: 'inbound' });
    let existing = input.providerMessageId
      ? await inbound().where({ channel: input.channel, provider_message_id: input.providerMessageId }).first()
      : undefined;
    if (!existing && input.clientMessageId) {
      existing = await inbound().where({ conversation_id: input.conversationId, client_message_id: input.clientMessageId }).first();
    }
    if (!existing) throw new Error('inbound message conflicted but the stored row was not found');
    return { message: existing, duplicate: true };
  }
  return { message: Message.fromRow(db, inserted.rows[0]!), duplicate: false };
}

export interface QueueOutboundInput {
  conversationId?: string | null;
  patientId?: string | null;
  channel: string;
  /** The recipient's address on the channel. */
  to: string;
  text: string;
  /** Choices: buttons where the channel has them, else appended as "1. Label" lines. */
  options?: MessageOption[] | null;
  sender: 'assistant' | 'staff' | 'system';
  senderUserId?: string | null;
  batchId?: string | null;
  reminderId?: string | null;
  /**
   * Free-form; `transactional: true` exempts the message from the opt-out check
   * at send time (e.g. the STOP confirmation queued in the same transaction as the opt-out);
   * `ask` / `ask_closed`: see MessageAsk.
   */
  metadata?: Record<string, unknown>;
  contentType?: string;
  maxAttempts?: number;
  /** Do not send before this time (quiet hours, scheduled sends). */
  notBefore?: Date | null;
  /** Creation time; defaults to now. Messages are sent in (created_at, id) order. */
  now?: Date;
  /** The row's id when the caller made it earlier (newId('message')); default: made here. */
  id?: string;
}

/**
 * A patient's voice note heard as words (the engine's hearVoiceNote): its
 * content becomes them, sealed like every content, and its content type
 * `voice`; its media stay in the metadata, marked `transcribed`.
 */
export async function recordVoiceNoteWords(db: Db, scope: OrgScope, messageId: string, words: string): Promise<void> {
  const k = db as Knex;
  await k('messages').where({ id: messageId, organization_id: scope.organizationId, direction: 'inbound' }).update({
    content: sealText(db, words), content_type: 'voice', metadata: k.raw(`metadata || '{"transcribed": true}'::jsonb`), updated_at: k.fn.now(),
  });
}

/**
 * Stores an outbound message with status `queued` in the caller's transaction.
 * Nothing is sent here: after commit, call the dispatcher's `kick()`
 * (hooks.outboundQueued in the API). Bumps the conversation's counters.
 */
export async function queueOutboundMessage(db: Db, scope: OrgScope, input: QueueOutboundInput): Promise<Message> {
  const now = input.now ?? new Date();
  const k = db as Knex;
  const bump = Boolean(input.conversationId);
  const insert = outboundInsert(db, scope, [input]);
  // One statement: the row (returned as stored) and the conversation's counters.
  const result = (await k.raw(
    `WITH ins AS (${insert.sql} RETURNING *)${bump ? `, conv AS (
       UPDATE conversations SET message_count = message_count + 1, last_message_at = greatest(last_message_at, ?), updated_at = CURRENT_TIMESTAMP
       WHERE id = ? AND organization_id = ?
     )` : ''}
     SELECT * FROM ins`,
    [...insert.bindings, ...(bump ? [now, input.conversationId!, scope.organizationId] : [])],
  )) as { rows: Record<string, unknown>[] };
  return Message.fromRow(db, result.rows[0]!);
}

/**
 * Rows claimed by the statement that stores them, for the dispatcher of this
 * instance to send right after the commit without a claim of its own (a claim
 * is a lease: models/outbox.ts). The lease is taken only when the recipient has
 * no earlier message queued that is due or being sent (the claim's own rule
 * for per-recipient order); otherwise the rows are queued as usual.
 */
export interface ClaimAtInsert {
  /** The lease's end: an instance that dies before sending leaves the rows to be retaken then. */
  until: Date;
  now: Date;
}

/**
 * The INSERT of queued outbound rows (no RETURNING, no counters), for a caller
 * that composes it into a larger statement (models/turns.ts saveTurn).
 * Ids not given are made in order, so the rows are sent in the order given.
 * `claim` (all rows to one recipient): see ClaimAtInsert; the rows then carry
 * claimed_until and attempts = 1, or neither when the recipient was busy.
 */
export function outboundInsert(db: Db, scope: OrgScope, inputs: readonly QueueOutboundInput[], onlyIf?: string, claim?: ClaimAtInsert): { sql: string; bindings: Knex.Value[] } {
  const bindings: Knex.Value[] = [];
  const rows = inputs.map((input) => {
    const now = input.now ?? new Date();
    bindings.push(input.id ?? newId('message'), scope.organizationId, input.conversationId ?? null, input.patientId ?? null, input.channel, input.sender,
      input.senderUserId ?? null, input.contentType ?? 'text', sealText(db, input.text),
      input.options && input.options.length ? JSON.stringify(input.options) : null, input.to, input.batchId ?? null, input.reminderId ?? null,
      JSON.stringify(input.metadata ?? {}), input.maxAttempts ?? 5, input.notBefore ?? null, now, now);
    // Typed so the rows read the same as VALUES rows or as a SELECT's (`onlyIf`), where nothing types them from the columns.
    return `(?, ?, ?, ?, ?, 'outbound', ?, ?, ?, ?, ?::jsonb, ?, 'queued', ?, ?, ?::jsonb, ?::int, ?::timestamptz, ?::timestamptz, ?::timestamptz)`;
  });
  const columns = `id, organization_id, conversation_id, patient_id, channel, direction, sender, sender_user_id, content_type,
       content, options, to_address, status, batch_id, reminder_id, metadata, max_attempts, next_attempt_at, created_at, updated_at`;
  if (claim) {
    const [first] = inputs;
    if (!first || inputs.some((i) => i.channel !== first.channel || i.to !== first.to)) throw new Error('rows claimed at insert go to one recipient');
    if (inputs.some((i) => i.batchId)) throw new Error('bulk rows are queued for a claim');
    // The probe of claimStatement's per-recipient order, for rows not stored yet: any queued row of the recipient that is
    // due or under a live lease is earlier than these (a bulk one waiting for its turn does not hold a reply back).
    return {
      sql: `INSERT INTO messages (${columns}, claimed_until, attempts)
        SELECT v.*, CASE WHEN f.free THEN ?::timestamptz END, CASE WHEN f.free THEN 1 ELSE 0 END
        FROM (VALUES ${rows.join(', ')}) AS v(${columns}),
          (SELECT NOT EXISTS (SELECT 1 FROM messages e
             WHERE e.status = 'queued' AND e.organization_id = ? AND e.channel = ? AND e.to_address = ? AND e.batch_id IS NULL
               AND (e.claimed_until >= ? OR e.next_attempt_at IS NULL OR e.next_attempt_at <= ?)) AS free) f
        ${onlyIf ? `WHERE ${onlyIf}` : ''}`,
      bindings: [claim.until, ...bindings, scope.organizationId, first.channel, first.to, claim.now, claim.now],
    };
  }
  return {
    // `onlyIf`: a condition on the rest of the statement (saveTurn: the conversation's guarded update took place).
    sql: onlyIf
      ? `INSERT INTO messages (${columns}) SELECT * FROM (VALUES ${rows.join(', ')}) AS v(${columns}) WHERE ${onlyIf}`
      : `INSERT INTO messages (${columns}) VALUES ${rows.join(', ')}`,
    bindings,
  };
}

/** Messages of one conversation, oldest first. Does not check the conversation (see getConversation). */
export async function listConversationMessages(db: Db, scope: OrgScope, conversationId: string, opts: { limit?: number } = {}): Promise<Message[]> {
  const q = Message.query(db).where({ organization_id: scope.organizationId, conversation_id: conversationId })
    .orderBy('created_at', 'asc').orderBy('id', 'asc');
  if (opts.limit) q.limit(opts.limit);
  return q;
}

/** One message of the organization, or undefined. */
export async function findMessage(db: Db, scope: OrgScope, id: string): Promise<Message | undefined> {
  return Message.query(db).where({ organization_id: scope.organizationId, id }).first();
}

/** Queued rows no dispatcher holds: never claimed, or under a claim that expired (models/outbox.ts: a claim is a lease). */
export function whereUnclaimed(q: Knex.QueryBuilder, k: Knex): Knex.QueryBuilder {
  return q.where((w) => w.whereNull('claimed_until').orWhere('claimed_until', '<', k.fn.now()));
}

/** Cancels the still-queued outbound messages of a conversation (it was deleted); one being sent finishes. Returns how many. */
export async function cancelQueuedMessages(db: Db, scope: OrgScope, conversationId: string): Promise<number> {
  return whereUnclaimed((db as Knex)('messages')
    .where({ organization_id: scope.organizationId, conversation_id: conversationId, direction: 'outbound', status: 'queued' }), db as Knex)
    .update({ status: 'cancelled', updated_at: (db as Knex).fn.now() });
}
