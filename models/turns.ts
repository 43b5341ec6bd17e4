/**
 * What one conversation-engine turn reads and writes, in as few statements as
 * the work allows (every statement is a round trip and a system call or two):
 * the inbound message with its counters, the conversation locked together with
 * its patient, and at the end the replies, dialogue state, counters and
 * insights in one statement.
 */
import type { Knex } from 'knex';
import type { Db, OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { Conversation, type ConversationInsights } from './conversations.js';
import { outboundInsert, type ClaimAtInsert, type QueueOutboundInput } from './messages.js';
import { sealText } from './encryption.js';
import { ACTIVITY_RESOLUTION, Patient } from './patients.js';

export interface InboundInOpenConversation {
  conversation: Pick<Conversation, 'id' | 'patient_id' | 'status' | 'dialogue_state' | 'language' | 'state_version' | 'channel' | 'channel_address'>;
  /** The stored message's id; null when it was a redelivery (already stored: look it up). */
  messageId: string | null;
  /** The live patient the message was stored under (the conversation's, else the sender's), read in the same statement. */
  patient: Patient | undefined;
}

export interface InboundInput {
  channel: string;
  /** Sender address: the conversation's channel_address. */
  from: string;
  /** The sender's patient, if known (the conversation's patient wins). */
  senderPatientId: string | null;
  senderLanguage: string | null;
  text: string;
  providerMessageId: string | null;
  clientMessageId: string | null;
  receivedAt: Date;
  metadata?: Record<string, unknown>;
  idleMinutes: number;
}

/**
 * The usual inbound message in ONE statement, no transaction: finds the open
 * conversation of (channel, address) when it takes the message as it is (not
 * idle, and nothing for findOrCreateOpenConversation to fill in: no patient or
 * language the sender brings that it lacks), stores the message in it (ON
 * CONFLICT DO NOTHING: a redelivery stores nothing) and, when
 * stored, bumps the conversation's counters and the patient's activity (to
 * the minute: see ACTIVITY_RESOLUTION); it
 * returns the conversation's live patient with it.
 * Undefined when there is no such conversation: use findOrCreateOpenConversation
 * and storeInboundMessage in a transaction.
 */
export async function storeInboundInOpenConversation(db: Db, scope: OrgScope, input: InboundInput): Promise<InboundInOpenConversation | undefined> {
  const orgId = scope.organizationId;
  const idleBefore = new Date(input.receivedAt.getTime() - input.idleMinutes * 60_000);
  const result = (await (db as Knex).raw(
    `WITH conv AS (
       SELECT id, patient_id, status, dialogue_state, language, state_version, channel, channel_address FROM conversations
       WHERE organization_id = ? AND channel = ? AND channel_address = ? AND deleted_at IS NULL AND status <> 'closed'
         AND last_message_at >= ? AND (?::text IS NULL OR patient_id IS NOT NULL) AND (?::text IS NULL OR language IS NOT NULL)
       LIMIT 1
     ), ins AS (
       INSERT INTO messages (id, organization_id, conversation_id, patient_id, channel, direction, sender, content_type, content,
         from_address, status, provider_message_id, client_message_id, metadata, created_at, updated_at)
       SELECT ?, ?, conv.id, coalesce(conv.patient_id, ?), ?, 'inbound', 'patient', 'text', ?, ?, 'received', ?, ?, ?::jsonb, ?::timestamptz, ?::timestamptz
       FROM conv
       ON CONFLICT DO NOTHING RETURNING id, conversation_id, patient_id
     ), counted AS (
       UPDATE conversations SET message_count = message_count + 1, last_message_at = greatest(last_message_at, ?::timestamptz), updated_at = CURRENT_TIMESTAMP
       WHERE id = (SELECT conversation_id FROM ins) AND organization_id = ?
     ), active AS (
       UPDATE patients SET last_activity_at = ?::timestamptz
       WHERE id = (SELECT patient_id FROM ins) AND organization_id = ? AND last_activity_at < ?::timestamptz - interval '${ACTIVITY_RESOLUTION}'
     )
     SELECT conv.*, (SELECT id FROM ins) AS message_id, CASE WHEN p.id IS NULL THEN NULL ELSE to_jsonb(p) END AS turn_patient
     FROM conv LEFT JOIN patients p ON p.id = coalesce(conv.patient_id, ?) AND p.organization_id = ? AND p.deleted_at IS NULL`,
    [orgId, input.channel, input.from, idleBefore, input.senderPatientId, input.senderLanguage,
      newId('message'), orgId, input.senderPatientId, input.channel, sealText(db, input.text), input.from, input.providerMessageId, input.clientMessageId,
      JSON.stringify(input.metadata ?? {}), input.receivedAt, input.receivedAt,
      input.receivedAt, orgId, input.receivedAt, orgId, input.receivedAt, input.senderPatientId, orgId],
  )) as { rows: (InboundInOpenConversation['conversation'] & { message_id: string | null; turn_patient: Record<string, unknown> | null })[] };
  const row = result.rows[0];
  if (!row) return undefined;
  const { message_id: messageId, turn_patient: raw, ...conversation } = row;
  return { conversation, messageId, patient: patientFromJson(db, raw) };
}

const PATIENT_DATES = ['opted_out_at', 'last_activity_at', 'deleted_at', 'created_at', 'updated_at'] as const;

/** A patients row read as to_jsonb (timestamps come as strings) as the model a direct read gives. */
function patientFromJson(db: Db, raw: Record<string, unknown> | null): Patient | undefined {
  if (!raw) return undefined;
  for (const key of PATIENT_DATES) if (typeof raw[key] === 'string') raw[key] = new Date(raw[key] as string);
  return Patient.fromRow(db, raw);
}

/**
 * Locks a live conversation for one engine turn (FOR UPDATE: turns of a
 * conversation run one after the other) and reads its live patient in the same
 * statement (the conversation's, else `fallbackPatientId`).
 */
export async function lockConversationForTurn(trx: Knex.Transaction, scope: OrgScope, id: string, fallbackPatientId: string | null): Promise<{ conversation: Conversation; patient: Patient | undefined } | undefined> {
  const result = (await trx.raw(
    `SELECT c.*, CASE WHEN p.id IS NULL THEN NULL ELSE to_jsonb(p) END AS turn_patient
     FROM conversations c
     LEFT JOIN patients p ON p.id = coalesce(c.patient_id, ?) AND p.organization_id = c.organization_id AND p.deleted_at IS NULL
     WHERE c.id = ? AND c.organization_id = ? AND c.deleted_at IS NULL
     FOR UPDATE OF c`,
    [fallbackPatientId, id, scope.organizationId],
  )) as { rows: (Record<string, unknown> & { turn_patient: Record<string, unknown> | null })[] };
  const row = result.rows[0];
  if (!row) return undefined;
  const { turn_patient: raw, ...conversation } = row;
  return { conversation: Conversation.fromDatabaseJson(conversation), patient: patientFromJson(trx, raw) };
}

/**
 * Locks the conversation for the rest of a turn that started without a lock,
 * if it is still live at `version` (nobody saved a turn, handed it off or
 * closed it since the turn read it). False: the turn is stale.
 */
export async function lockConversationAtVersion(trx: Knex.Transaction, scope: OrgScope, id: string, version: number): Promise<boolean> {
  const result = (await trx.raw(
    'SELECT id FROM conversations WHERE id = ? AND organization_id = ? AND state_version = ? AND deleted_at IS NULL FOR UPDATE',
    [id, scope.organizationId, version],
  )) as { rows: { id: string }[] };
  return result.rows.length === 1;
}

export interface SaveTurnInput {
  /** The state_version the turn started from (read under the lock, or when the message was stored). */
  expectedVersion: number;
  state: Record<string, unknown>;
  /** Replies of the turn, stored (queued) in the same statement, in this order; the conversation's counters follow. */
  replies: readonly QueueOutboundInput[];
  lastMessageAt: Date;
  insights: ConversationInsights;
  /** Claim the replies for this instance's dispatcher as they are stored (see ClaimAtInsert). */
  claim?: ClaimAtInsert;
}

export interface SavedTurn {
  /** The replies stored under this instance's claim (SaveTurnInput.claim), in order: none when the recipient was busy. */
  claimed: { id: string; reply: QueueOutboundInput; patientOptedOut: boolean }[];
}

/**
 * Everything an engine turn writes at its end, in ONE statement: on the
 * conversation the dialogue state (guarded by state_version), the counters of
 * the replies and the insights, and the replies as queued outbound rows, only
 * when the guard held. Null when the version moved: nothing was written, so a
 * turn without a transaction can simply be played again.
 */
export async function saveTurn(db: Db, scope: OrgScope, id: string, input: SaveTurnInput): Promise<SavedTurn | null> {
  const sets = ['dialogue_state = ?::jsonb', 'state_version = state_version + 1', 'updated_at = CURRENT_TIMESTAMP'];
  const setBindings: Knex.Value[] = [JSON.stringify(input.state)];
  if (input.replies.length > 0) {
    sets.push('message_count = message_count + ?', 'last_message_at = greatest(last_message_at, ?)');
    setBindings.push(input.replies.length, input.lastMessageAt);
  }
  for (const key of ['language', 'intent', 'sentiment', 'summary'] as const) {
    if (input.insights[key] === undefined) continue;
    sets.push(`${key} = ?`);
    setBindings.push(input.insights[key] ?? null);
  }
  const update = `UPDATE conversations SET ${sets.join(', ')} WHERE id = ? AND organization_id = ? AND state_version = ? RETURNING id`;
  const updateBindings = [...setBindings, id, scope.organizationId, input.expectedVersion];
  // Claimed rows are handed over by id.
  const replies = input.claim ? input.replies.map((r) => (r.id ? r : { ...r, id: newId('message') })) : input.replies;
  const insert = replies.length > 0 ? outboundInsert(db, scope, replies, 'EXISTS (SELECT 1 FROM upd)', input.claim) : null;
  const result = (await (db as Knex).raw(
    insert
      // The patient's opt-out only for rows handed over: the claim reads it for the others.
      ? `WITH upd AS (${update}), ins AS (${insert.sql}
           RETURNING id, claimed_until IS NOT NULL AS claimed,
             ${input.claim ? 'coalesce((SELECT p.opted_out_at IS NOT NULL FROM patients p WHERE p.id = messages.patient_id), false)' : 'false'} AS opted_out)
         SELECT upd.id, ins.id AS reply_id, ins.claimed, ins.opted_out FROM upd LEFT JOIN ins ON true`
      : update,
    insert ? [...updateBindings, ...insert.bindings] : updateBindings,
  )) as { rows: { id: string; reply_id?: string | null; claimed?: boolean | null; opted_out?: boolean | null }[] };
  if (result.rows.length === 0) return null;
  const byId = new Map(result.rows.filter((r) => r.reply_id && r.claimed).map((r) => [r.reply_id!, Boolean(r.opted_out)]));
  // RETURNING gives no order; the replies' is the send order.
  const claimed = replies.filter((r) => r.id && byId.has(r.id)).map((r) => ({ id: r.id!, reply: r, patientOptedOut: byId.get(r.id!)! }));
  return { claimed };
}
