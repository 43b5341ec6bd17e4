/**
 * Conversations: one open conversation per organization, channel and patient
 * address (a partial unique index holds it). Status `bot` is answered by the
 * engine; `handoff` is held by staff and the bot stays silent; `closed` ends it.
 */
import type { Knex } from 'knex';
import { BaseModel, recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound, unprocessable } from '../lib/errors.js';
import { cancelQueuedMessages, OPEN_ASK_KEY, phoneAskOpen, queueOutboundMessage, type Message } from './messages.js';

export type ConversationStatus = 'bot' | 'handoff' | 'closed';

export class Conversation extends BaseModel {
  static override tableName = 'conversations';
  static override jsonAttributes = ['dialogue_state'];
  id!: string;
  organization_id!: string;
  patient_id!: string | null;
  channel!: string;
  channel_address!: string;
  status!: ConversationStatus;
  assignee_user_id!: string | null;
  language!: string | null;
  message_count!: number;
  summary!: string | null;
  intent!: string | null;
  sentiment!: string | null;
  escalated!: boolean;
  dialogue_state!: Record<string, unknown> | null;
  state_version!: number;
  last_message_at!: Date;
  closed_at!: Date | null;
  deleted_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
  /** Filled by getConversation / listConversations (joined from patients). */
  patient_name?: string | null;
}

const live = (db: Db, orgId: string) => Conversation.query(db).where('conversations.organization_id', orgId).whereNull('conversations.deleted_at');

const withPatientName = (db: Db, orgId: string) =>
  live(db, orgId).select('conversations.*', 'patients.name as patient_name').leftJoin('patients', 'patients.id', 'conversations.patient_id');

export interface FindOrCreateConversationInput {
  channel: string;
  /** The patient's address on the channel: E.164 phone, chat id, web chat session id. */
  address: string;
  patientId?: string | null;
  language?: string | null;
  /** An open conversation silent for longer than this is closed and a new one opened (config CONVERSATION_IDLE_MINUTES). */
  idleMinutes: number;
  now: Date;
}

/**
 * The open conversation for (channel, address), or a new one. An idle one is
 * closed first (event conversation.closed, reason idle). Safe when two inbound
 * messages race: the loser of the unique index reads the winner's row.
 * Fills patient_id / language on the existing conversation when it had none.
 */
/** The data of a conversation.created event (webhooks), wherever a conversation is opened. */
export function conversationCreatedData(conversationId: string, patientId: string | null, channel: string): Record<string, unknown> {
  return { conversation_id: conversationId, patient_id: patientId, channel };
}

export async function findOrCreateOpenConversation(db: Db, scope: OrgScope, input: FindOrCreateConversationInput): Promise<Conversation> {
  const orgId = scope.organizationId;
  const idleBefore = new Date(input.now.getTime() - input.idleMinutes * 60_000);
  for (let attempt = 0; attempt < 3; attempt++) {
    const open = await live(db, orgId).where({ channel: input.channel, channel_address: input.address }).whereNot('status', 'closed').first();
    if (open && open.last_message_at.getTime() < idleBefore.getTime()) {
      await closeRow(db, open, input.now, 'idle');
    } else if (open) {
      const patch: Partial<Conversation> = {};
      if (input.patientId && !open.patient_id) patch.patient_id = input.patientId;
      if (input.language && !open.language) patch.language = input.language;
      if (Object.keys(patch).length === 0) return open;
      return open.$query(db).patchAndFetch({ ...patch, updated_at: input.now });
    }
    const id = newId('conversation');
    // A share-my-number control the address's last conversation left showing (it closed while the bot waited for the
    // number: idle, or staff closed it) is still on the patient's screen: the new conversation carries the ask, so
    // its first reply without buttons removes it (bot/runtime/asks.ts). Deleted conversations count too: the control
    // outlives them.
    const result = (await (db as Knex).raw(
      `INSERT INTO conversations (id, organization_id, patient_id, channel, channel_address, status, language, dialogue_state, last_message_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'bot', ?, (
         SELECT CASE WHEN p.dialogue_state #>> '{data,${OPEN_ASK_KEY}}' = 'phone' THEN '{"data": {"${OPEN_ASK_KEY}": "phone"}}'::jsonb END
         FROM conversations p WHERE p.organization_id = ? AND p.channel = ? AND p.channel_address = ? AND p.status = 'closed'
         ORDER BY p.created_at DESC LIMIT 1
       ), ?, ?, ?)
       ON CONFLICT (organization_id, channel, channel_address) WHERE status <> 'closed' AND deleted_at IS NULL DO NOTHING
       RETURNING id`,
      [id, orgId, input.patientId ?? null, input.channel, input.address, input.language ?? null,
        orgId, input.channel, input.address, input.now, input.now, input.now],
    )) as { rows: { id: string }[] };
    if (result.rows.length > 0) {
      await recordEvent(db, orgId, 'conversation.created', id, conversationCreatedData(id, input.patientId ?? null, input.channel), newId('event'));
      return (await Conversation.query(db).findById(id))!;
    }
    // Another transaction opened it first: read theirs on the next pass.
  }
  throw conflict('Could not open a conversation for this address; try again');
}

/**
 * state_version + 1. Every status change bumps it, not only a saved dialogue
 * state: an engine turn that read the conversation before (and holds no lock)
 * then fails its guarded save and is played again on what is there now.
 */
function bumpVersion(db: Db): Knex.Raw {
  return (db as Knex).raw('state_version + 1');
}

/** Closes it unless something else just did (the idle job, staff): then null, and no second event. */
async function closeRow(db: Db, conv: Conversation, now: Date, reason: string): Promise<Conversation | null> {
  const [closed] = (await Conversation.query(db).where({ id: conv.id }).whereNot('status', 'closed')
    .patch({ status: 'closed', closed_at: now, updated_at: now, state_version: bumpVersion(db) } as unknown as Partial<Conversation>)
    .returning('*')) as unknown as Conversation[];
  if (!closed) return null;
  await recordEvent(db, conv.organization_id, 'conversation.closed', conv.id, { conversation_id: conv.id, patient_id: conv.patient_id, reason }, newId('event'));
  return closed;
}

/** Past the idle time by this much more before the idle job closes a conversation: a message received just before
 * the idle time, and stored a moment later, is never stored into a conversation the job has just closed. */
const IDLE_CLOSE_GRACE_MS = 60_000;

/**
 * Closes the bot's conversations silent for longer than `idleMinutes` (plus a
 * minute's grace), up to `limit` per call, with an event conversation.closed
 * (reason idle) each; returns how many. SKIP LOCKED: any number of instances
 * may run it, and a conversation a turn is writing is left for the next run.
 * Conversations staff hold (handoff) stay open until staff close or resume
 * them; an idle one is closed when the patient next writes.
 */
export async function closeIdleConversations(db: Db, opts: { now: Date; idleMinutes: number; limit: number; organizationIds?: readonly string[] }): Promise<number> {
  if (opts.organizationIds?.length === 0) return 0;
  const idleBefore = new Date(opts.now.getTime() - opts.idleMinutes * 60_000 - IDLE_CLOSE_GRACE_MS);
  return (db as Knex).transaction(async (trx) => {
    const { rows } = (await trx.raw(
      `SELECT id, organization_id, patient_id FROM conversations
       WHERE status = 'bot' AND deleted_at IS NULL AND last_message_at < ? ${opts.organizationIds ? 'AND organization_id = ANY(?::text[])' : ''}
       ORDER BY last_message_at LIMIT ? FOR UPDATE SKIP LOCKED`,
      [idleBefore, ...(opts.organizationIds ? [[...opts.organizationIds]] : []), opts.limit] as Knex.RawBinding[],
    )) as { rows: Array<{ id: string; organization_id: string; patient_id: string | null }> };
    if (rows.length === 0) return 0;
    await trx('conversations').whereIn('id', rows.map((r) => r.id))
      .update({ status: 'closed', closed_at: opts.now, updated_at: opts.now, state_version: bumpVersion(trx) });
    await trx('events').insert(rows.map((r) => ({
      id: newId('event'), organization_id: r.organization_id, event: 'conversation.closed', subject_id: r.id,
      data: JSON.stringify({ conversation_id: r.id, patient_id: r.patient_id, reason: 'idle' }),
    })));
    return rows.length;
  });
}

/** A live conversation with its patient's name; 404 for a deleted one or another organization's. */
export async function getConversation(db: Db, scope: OrgScope, id: string): Promise<Conversation> {
  const conv = await withPatientName(db, scope.organizationId).where('conversations.id', id).first();
  if (!conv) throw notFound('Conversation');
  return conv;
}

/** Filters shared by the conversation list and the export (models/conversationExport.ts). */
export interface ConversationFilter {
  patientId?: string;
  /** Conversations started at or after this instant. */
  startDate?: Date;
  /** Conversations started before this instant (exclusive). */
  endDate?: Date;
  language?: string;
  status?: ConversationStatus;
  channel?: string;
  escalated?: boolean;
  assigneeUserId?: string;
}

export interface ListConversationsInput extends ConversationFilter {
  page: number;
  limit: number;
  sort: [string, 'asc' | 'desc'];
}

/** Live conversations of the organization matching the filter (no select, order or limit). */
export function filteredConversations(db: Db, scope: OrgScope, input: ConversationFilter) {
  const q = live(db, scope.organizationId);
  if (input.patientId) q.where('conversations.patient_id', input.patientId);
  if (input.startDate) q.where('conversations.created_at', '>=', input.startDate);
  if (input.endDate) q.where('conversations.created_at', '<', input.endDate);
  if (input.language) q.where('conversations.language', input.language);
  if (input.status) q.where('conversations.status', input.status);
  if (input.channel) q.where('conversations.channel', input.channel);
  if (input.escalated !== undefined) q.where('conversations.escalated', input.escalated);
  if (input.assigneeUserId) q.where('conversations.assignee_user_id', input.assigneeUserId);
  return q;
}

export const CONVERSATION_SORTS = ['created_at', 'last_message_at', 'message_count', 'updated_at'] as const;

/** Live conversations of the organization, filtered and paginated, with patient names. */
export async function listConversations(db: Db, scope: OrgScope, input: ListConversationsInput): Promise<{ rows: Conversation[]; total: number }> {
  const q = filteredConversations(db, scope, input);
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const [field, dir] = input.sort;
  const rows = await q.select('conversations.*', 'patients.name as patient_name')
    .leftJoin('patients', 'patients.id', 'conversations.patient_id')
    .orderBy(`conversations.${field}`, dir).orderBy('conversations.id', dir)
    .limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

/** The live, non-closed conversation or 409 (closed) / 404. */
async function getOpen(db: Db, scope: OrgScope, id: string, action: string): Promise<Conversation> {
  const conv = await live(db, scope.organizationId).where('conversations.id', id).forUpdate().first();
  if (!conv) throw notFound('Conversation');
  if (conv.status === 'closed') throw conflict(`A closed conversation cannot be ${action}`, { status: conv.status });
  return conv;
}

async function assertUserInOrg(db: Db, orgId: string, userId: string, field: string): Promise<void> {
  const user = await (db as Knex)('users').where({ id: userId, organization_id: orgId }).whereNull('deleted_at').first('id');
  if (!user) throw unprocessable(`${field}: no such user in this organization`, { field });
}

export interface HandoffInput {
  reason?: string | null;
  byUserId?: string | null;
  /** The staff user who takes it; must belong to the organization (422 naming assignee_id). */
  assigneeUserId?: string | null;
  now?: Date;
}

/**
 * Hands the conversation to staff: status handoff, escalated, optional
 * assignee; the bot stays silent from now on. Event conversation.escalated
 * (only on the bot -> handoff change; a second handoff just reassigns). 409 when closed.
 */
export async function handoffConversation(db: Db, scope: OrgScope, id: string, input: HandoffInput = {}): Promise<Conversation> {
  const conv = await getOpen(db, scope, id, 'handed off');
  if (input.assigneeUserId) await assertUserInOrg(db, scope.organizationId, input.assigneeUserId, 'assignee_id');
  const now = input.now ?? new Date();
  const wasBot = conv.status === 'bot'; // patchAndFetch updates `conv` in place
  const updated = await conv.$query(db).patchAndFetch({
    status: 'handoff', escalated: true, updated_at: now, state_version: bumpVersion(db),
    ...(input.assigneeUserId ? { assignee_user_id: input.assigneeUserId } : {}),
  } as unknown as Partial<Conversation>);
  if (wasBot) {
    await recordEvent(db, scope.organizationId, 'conversation.escalated', id, {
      conversation_id: id, patient_id: conv.patient_id, reason: input.reason ?? null,
      by_user_id: input.byUserId ?? null, assignee_id: updated.assignee_user_id,
    }, newId('event'));
  }
  return updated;
}

/** Gives the conversation back to the bot: status bot, assignee cleared, dialogue step cleared (state_version bumped). 409 unless in handoff. */
export async function resumeConversation(db: Db, scope: OrgScope, id: string, opts: { now?: Date } = {}): Promise<Conversation> {
  const conv = await getOpen(db, scope, id, 'resumed');
  if (conv.status !== 'handoff') throw conflict('Only a conversation handed off to staff can be resumed', { status: conv.status });
  const k = db as Knex;
  return conv.$query(db).patchAndFetch({
    status: 'bot', assignee_user_id: null, updated_at: opts.now ?? new Date(),
    dialogue_state: k.raw(`coalesce(dialogue_state, '{}'::jsonb) - 'step'`),
    state_version: bumpVersion(db),
  } as unknown as Partial<Conversation>);
}

/** Closes the conversation (closed_at, event conversation.closed). 409 when already closed. */
export async function closeConversation(db: Db, scope: OrgScope, id: string, opts: { now?: Date; reason?: string } = {}): Promise<Conversation> {
  const conv = await getOpen(db, scope, id, 'closed again');
  const closed = await closeRow(db, conv, opts.now ?? new Date(), opts.reason ?? 'closed');
  if (!closed) throw conflict('A closed conversation cannot be closed again', { status: 'closed' });
  return closed;
}

/** Soft delete: the conversation and its messages disappear from the API; still-queued replies are cancelled. */
export async function deleteConversation(db: Db, scope: OrgScope, id: string, opts: { now?: Date } = {}): Promise<void> {
  const conv = await live(db, scope.organizationId).where('conversations.id', id).first();
  if (!conv) throw notFound('Conversation');
  const now = opts.now ?? new Date();
  await conv.$query(db).patch({
    deleted_at: now, updated_at: now, state_version: bumpVersion(db), ...(conv.status !== 'closed' ? { status: 'closed' as const, closed_at: now } : {}),
  } as unknown as Partial<Conversation>);
  await cancelQueuedMessages(db, scope, id);
}

/**
 * Saves the engine's dialogue state if nobody saved since `expectedVersion`
 * was read (optimistic concurrency). Returns false on a lost race: reload and retry.
 */
export async function updateDialogueState(db: Db, scope: OrgScope, id: string, expectedVersion: number, state: Record<string, unknown> | null): Promise<boolean> {
  const k = db as Knex;
  const n = await k('conversations').where({ id, organization_id: scope.organizationId, state_version: expectedVersion }).update({
    dialogue_state: state == null ? null : JSON.stringify(state),
    state_version: k.raw('state_version + 1'),
    updated_at: k.fn.now(),
  });
  return n === 1;
}

/** Links the conversation to a patient (identified during the dialogue). 404 when the conversation is not the org's. */
export async function setConversationPatient(db: Db, scope: OrgScope, id: string, patientId: string | null): Promise<void> {
  const n = await (db as Knex)('conversations').where({ id, organization_id: scope.organizationId }).whereNull('deleted_at')
    .update({ patient_id: patientId, updated_at: (db as Knex).fn.now() });
  if (n === 0) throw notFound('Conversation');
}

/**
 * setConversationPatient, and on web chat the session's patient too (the
 * visitor's next conversation starts identified), in one statement.
 */
export async function linkConversationPatient(db: Db, scope: OrgScope, input: { conversationId: string; patientId: string; webchatSessionId?: string | null }): Promise<void> {
  if (!input.webchatSessionId) return setConversationPatient(db, scope, input.conversationId, input.patientId);
  const { rows } = (await (db as Knex).raw(
    `WITH c AS (
       UPDATE conversations SET patient_id = ?, updated_at = CURRENT_TIMESTAMP
       WHERE id = ? AND organization_id = ? AND deleted_at IS NULL RETURNING id
     ), s AS (
       UPDATE webchat_sessions SET patient_id = ? WHERE id = ? AND organization_id = ? RETURNING id
     )
     SELECT (SELECT count(*) FROM c)::int AS conversations`,
    [input.patientId, input.conversationId, scope.organizationId, input.patientId, input.webchatSessionId, scope.organizationId],
  )) as { rows: { conversations: number }[] };
  if (!rows[0]?.conversations) throw notFound('Conversation');
}

export interface ConversationInsights {
  language?: string | null;
  intent?: string | null;
  sentiment?: string | null;
  summary?: string | null;
}

/** Records what the engine understood (language, intent, sentiment, summary); undefined fields are left alone. */
export async function setConversationInsights(db: Db, scope: OrgScope, id: string, insights: ConversationInsights): Promise<void> {
  const patch: Record<string, unknown> = {};
  for (const key of ['language', 'intent', 'sentiment', 'summary'] as const) if (insights[key] !== undefined) patch[key] = insights[key];
  if (Object.keys(patch).length === 0) return;
  await (db as Knex)('conversations').where({ id, organization_id: scope.organizationId }).update({ ...patch, updated_at: (db as Knex).fn.now() });
}

/** The patient's most recent live conversation (any status), e.g. to reply on the channel they last used. */
export async function latestConversationOfPatient(db: Db, scope: OrgScope, patientId: string, channel?: string): Promise<Conversation | undefined> {
  const q = live(db, scope.organizationId).where('conversations.patient_id', patientId);
  if (channel) q.where('conversations.channel', channel);
  return q.orderBy('conversations.last_message_at', 'desc').orderBy('conversations.id', 'desc').first();
}

export interface StaffReplyInput {
  text: string;
  /** The staff user replying; becomes the assignee when the conversation had none. */
  userId: string | null;
  now?: Date;
}

/**
 * Queues a staff reply on the conversation's channel to its address. A `bot`
 * conversation moves to `handoff` (assignee = the replying user, event
 * conversation.escalated, reason staff_reply) so the bot stays silent.
 * 409 when closed. After commit: kick the dispatcher.
 */
export async function queueStaffReply(db: Db, scope: OrgScope, id: string, input: StaffReplyInput): Promise<{ conversation: Conversation; message: Message }> {
  const conv = await getOpen(db, scope, id, 'replied to');
  const now = input.now ?? new Date();
  let current = conv;
  if (conv.status === 'bot') {
    current = await handoffConversation(db, scope, id, { reason: 'staff_reply', byUserId: input.userId, assigneeUserId: input.userId, now });
  } else if (!conv.assignee_user_id && input.userId) {
    current = await conv.$query(db).patchAndFetch({ assignee_user_id: input.userId, updated_at: now });
  }
  // A share-my-number control the bot left showing (the patient asked for a person instead) goes with this reply.
  const askOpen = phoneAskOpen(conv.dialogue_state);
  const message = await queueOutboundMessage(db, scope, {
    conversationId: id, patientId: conv.patient_id, channel: conv.channel, to: conv.channel_address,
    text: input.text, sender: 'staff', senderUserId: input.userId, now, ...(askOpen ? { metadata: { ask_closed: 'phone' } } : {}),
  });
  if (askOpen) {
    await (db as Knex)('conversations').where({ id, organization_id: scope.organizationId })
      .update({ dialogue_state: (db as Knex).raw('dialogue_state #- ?::text[]', [['data', OPEN_ASK_KEY]]), state_version: bumpVersion(db) });
  }
  return { conversation: current, message };
}
