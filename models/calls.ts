/**
 * Phone calls (VAANI's call logs). A call is held in a conversation on the
 * voice channel: what the caller says is its inbound messages (the
 * transcript), the bot's replies are spoken in the call's TwiML instead of
 * going through the dispatcher (claimSpokenReplies), and the call's end closes
 * the conversation (unless staff hold it) and fails what could not be said.
 */
import type { Knex } from 'knex';
import { BaseModel, recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { notFound } from '../lib/errors.js';
import { openText } from './encryption.js';
import { Conversation, closeConversation } from './conversations.js';
import { Message, withTransaction } from './messages.js';
import { CALL_STATUSES } from './migrations/021_calls.js';
import { CALL_RECOGNITIONS, STREAM_ENDINGS } from './migrations/026_call_streams.js';

export { CALL_STATUSES, CALL_RECOGNITIONS };
export type CallStatus = (typeof CALL_STATUSES)[number];
/** Who hears the caller: Twilio's recognizer in a <Gather>, or our speech to text over the Media Stream. */
export type CallRecognition = (typeof CALL_RECOGNITIONS)[number];
/** How the bot ended a call's Media Stream: the <Connect> action then hangs up or puts the caller through. */
export type StreamEnding = (typeof STREAM_ENDINGS)[number];
/** Statuses after which nothing more happens on the call. */
export const FINAL_CALL_STATUSES: readonly CallStatus[] = ['completed', 'busy', 'failed', 'no-answer', 'canceled'];

export class Call extends BaseModel {
  static override tableName = 'calls';
  id!: string;
  organization_id!: string;
  call_sid!: string;
  direction!: 'inbound' | 'outbound';
  from_number!: string;
  to_number!: string | null;
  patient_id!: string | null;
  conversation_id!: string | null;
  status!: CallStatus;
  duration_seconds!: number | null;
  turns!: number;
  recognition!: CallRecognition;
  stream_ended!: StreamEnding | null;
  started_at!: Date;
  ended_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

export const asCallStatus = (s: string | undefined): CallStatus | null => (CALL_STATUSES as readonly string[]).includes(s ?? '') ? (s as CallStatus) : null;

/** Opens the row of an inbound call; a retried webhook gets the row it opened. */
export async function startCall(db: Db, scope: OrgScope, input: { callSid: string; from: string; to: string | null; status: CallStatus; recognition?: CallRecognition; now: Date }): Promise<Call> {
  const k = db as Knex;
  await k('calls').insert({
    id: newId('call'), organization_id: scope.organizationId, call_sid: input.callSid, direction: 'inbound', from_number: input.from,
    to_number: input.to, status: input.status, recognition: input.recognition ?? 'twilio', started_at: input.now, created_at: input.now, updated_at: input.now,
  }).onConflict('call_sid').ignore();
  const call = await Call.query(db).findOne({ call_sid: input.callSid, organization_id: scope.organizationId });
  if (!call) throw notFound('Call');
  return call;
}

/** The call of a Twilio CallSid (its organization comes with it: Twilio's later callbacks name only the call). */
export async function findCallBySid(db: Db, callSid: string): Promise<Call | undefined> {
  return Call.query(db).findOne({ call_sid: callSid });
}

/** Records that the call is held in `conversationId` (and so with its patient), counting one more answered turn when `turn`. */
export async function recordCallTurn(db: Db, scope: OrgScope, callId: string, input: { conversationId: string; turn: boolean; now: Date }): Promise<void> {
  await (db as Knex).raw(
    `UPDATE calls SET conversation_id = ?, turns = turns + ?, updated_at = ?, status = CASE WHEN status IN ('queued', 'ringing') THEN 'in-progress' ELSE status END,
       patient_id = coalesce((SELECT patient_id FROM conversations WHERE id = ? AND organization_id = ?), patient_id)
     WHERE id = ? AND organization_id = ?`,
    [input.conversationId, input.turn ? 1 : 0, input.now, input.conversationId, scope.organizationId, callId, scope.organizationId],
  );
}

/** The bot ends the call's Media Stream: what the <Connect> action does next (read by the instance Twilio asks, which may be another). */
export async function recordStreamEnding(db: Db, scope: OrgScope, callId: string, ending: StreamEnding, now: Date): Promise<void> {
  await Call.query(db).where({ id: callId, organization_id: scope.organizationId }).patch({ stream_ended: ending, updated_at: now });
}

/**
 * The call goes on with Twilio's recognizer: the stream ended without the bot
 * ending it (dropped, or our speech service failing).
 */
export async function fallBackToGather(db: Db, scope: OrgScope, callId: string, now: Date): Promise<void> {
  await Call.query(db).where({ id: callId, organization_id: scope.organizationId }).patch({ recognition: 'twilio', updated_at: now });
}

export interface SpokenReply { id: string; content: string; options: { value: string; label: string }[] | null; replyKey: string | null }

/**
 * Takes the conversation's queued voice replies to be spoken in the call's
 * next TwiML, oldest first, marking them delivered with the CallSid as their
 * provider id in one statement: two webhooks of one call never say a reply twice.
 */
export async function claimSpokenReplies(db: Db, scope: OrgScope, conversationId: string, callSid: string, now: Date): Promise<SpokenReply[]> {
  const result = (await (db as Knex).raw(
    `UPDATE messages SET status = 'delivered', provider_message_id = ?, attempts = attempts + 1, sent_at = ?, delivered_at = ?, updated_at = ?,
       next_attempt_at = NULL, claimed_until = NULL
     WHERE organization_id = ? AND conversation_id = ? AND channel = 'voice' AND status = 'queued'
     RETURNING id, content, options, metadata->>'reply_key' AS reply_key`,
    [callSid, now, now, now, scope.organizationId, conversationId],
  )) as { rows: { id: string; content: string; options: SpokenReply['options']; reply_key: string | null }[] };
  return result.rows.sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => ({ id: r.id, content: openText(db, r.content), options: r.options, replyKey: r.reply_key }));
}

/** A stored reply (opened by the model) as the call speaks it. */
const spokenReply = (m: Message): SpokenReply => ({
  id: m.id, content: m.content, options: m.options, replyKey: typeof m.metadata?.reply_key === 'string' ? m.metadata.reply_key : null,
});

/** The replies already spoken after the caller's message `afterMessageId` (a retried gather hears them again). */
export async function spokenRepliesAfter(db: Db, scope: OrgScope, conversationId: string, afterMessageId: string): Promise<SpokenReply[]> {
  const rows = await Message.query(db).where({ organization_id: scope.organizationId, conversation_id: conversationId, direction: 'outbound', channel: 'voice' })
    .where('id', '>', afterMessageId).orderBy('id');
  return rows.map(spokenReply);
}

/** The bot's last words in the conversation (what to say again when the caller was silent). */
export async function lastAssistantReply(db: Db, scope: OrgScope, conversationId: string): Promise<SpokenReply | undefined> {
  const m = await Message.query(db).where({ organization_id: scope.organizationId, conversation_id: conversationId, direction: 'outbound', sender: 'assistant' })
    .orderBy('id', 'desc').first();
  return m && spokenReply(m);
}

/**
 * Records a status callback. The first final status (completed, busy, ...)
 * stamps the end and the duration, fails the replies the call ended before
 * saying (last_error call_ended), closes the conversation unless staff hold
 * it, and records call.completed. Returns the call as it is now.
 */
export async function recordCallStatus(db: Db, scope: OrgScope, call: Call, input: { status: CallStatus; durationSeconds: number | null; now: Date }): Promise<Call> {
  return withTransaction(db, async (trx) => {
    const ending = FINAL_CALL_STATUSES.includes(input.status);
    const [updated] = (await Call.query(trx).where({ id: call.id, organization_id: scope.organizationId }).whereNull('ended_at')
      .patch({
        status: input.status, updated_at: input.now,
        ...(ending ? { ended_at: input.now, duration_seconds: input.durationSeconds ?? Math.max(0, Math.round((input.now.getTime() - call.started_at.getTime()) / 1000)) } : {}),
      } as Partial<Call>).returning('*')) as unknown as Call[];
    if (!updated) return (await Call.query(trx).findById(call.id))!;
    if (!ending) return updated;
    if (updated.conversation_id) {
      await trx('messages').where({ organization_id: scope.organizationId, conversation_id: updated.conversation_id, channel: 'voice', status: 'queued' })
        .update({ status: 'failed', failed_at: input.now, last_error: 'call_ended', next_attempt_at: null, updated_at: input.now });
      const conversation = await Conversation.query(trx).findOne({ id: updated.conversation_id, organization_id: scope.organizationId });
      if (conversation?.status === 'bot') await closeConversation(trx, scope, conversation.id, { now: input.now, reason: 'call_ended' });
    }
    await recordEvent(trx, scope.organizationId, 'call.completed', updated.id, {
      call_id: updated.id, call_sid: updated.call_sid, status: updated.status, duration_seconds: updated.duration_seconds,
      patient_id: updated.patient_id, conversation_id: updated.conversation_id,
    }, newId('event'));
    return updated;
  });
}

/**
 * How long a call may go without news before it is taken to be over: Twilio
 * ends every call at its time limit (four hours unless the account set
 * another), and a call whose status callback never came (none configured, or
 * lost) would otherwise read in-progress for good and keep its conversation open.
 */
export const STALE_CALL_MS = 6 * 3_600_000;

/**
 * Ends up to `limit` calls without news (updated) for STALE_CALL_MS as
 * Twilio would have reported them: completed at their last sign of life, with
 * the duration up to then, the replies not said failed, the conversation
 * closed and call.completed recorded (recordCallStatus). SKIP LOCKED: any
 * number of instances may run it. Returns how many were ended.
 */
export async function endStaleCalls(db: Db, opts: { now: Date; limit: number }): Promise<number> {
  return withTransaction(db, async (trx) => {
    const stale = await Call.query(trx).whereNull('ended_at').where('updated_at', '<', new Date(opts.now.getTime() - STALE_CALL_MS))
      .orderBy('updated_at').limit(opts.limit).forUpdate().skipLocked();
    for (const call of stale) {
      await recordCallStatus(trx, { organizationId: call.organization_id }, call, { status: 'completed', durationSeconds: null, now: new Date(call.updated_at) });
    }
    return stale.length;
  });
}

/** A call with what the API shows next to it: the patient's name and the conversation's insights. */
export type CallWithContext = Call & { patient_name: string | null; patient_phone: string | null; summary: string | null; sentiment: string | null; intent: string | null };

export interface ListCallsInput {
  page: number;
  limit: number;
  patientId?: string;
  direction?: 'inbound' | 'outbound';
  status?: CallStatus;
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

function withContext(db: Db, orgId: string) {
  return Call.query(db).alias('c').where('c.organization_id', orgId)
    .select('c.*', 'p.name as patient_name', 'p.phone as patient_phone', 'v.summary', 'v.sentiment', 'v.intent')
    .leftJoin('patients as p', 'p.id', 'c.patient_id')
    .leftJoin('conversations as v', 'v.id', 'c.conversation_id');
}

export async function listCalls(db: Db, scope: OrgScope, input: ListCallsInput): Promise<{ rows: CallWithContext[]; total: number }> {
  const filtered = <Q extends ReturnType<typeof withContext>>(q: Q): Q => {
    if (input.patientId) q.where('c.patient_id', input.patientId);
    if (input.direction) q.where('c.direction', input.direction);
    if (input.status) q.where('c.status', input.status);
    if (input.from) q.where('c.started_at', '>=', input.from);
    if (input.to) q.where('c.started_at', '<', input.to);
    return q;
  };
  const [{ count }] = (await filtered(Call.query(db).alias('c').where('c.organization_id', scope.organizationId) as ReturnType<typeof withContext>)
    .count('* as count')) as unknown as { count: number }[];
  const rows = (await filtered(withContext(db, scope.organizationId))
    .orderBy('c.started_at', 'desc').orderBy('c.id', 'desc').limit(input.limit).offset((input.page - 1) * input.limit)) as CallWithContext[];
  return { rows, total: Number(count) };
}

export interface CallDetail extends CallWithContext {
  /** What was said, in order: the conversation's messages while the call lasted. */
  transcript: Message[];
  /** Appointments the caller booked during the call. */
  appointmentIds: string[];
}

export async function getCallDetail(db: Db, scope: OrgScope, id: string): Promise<CallDetail> {
  const call = (await withContext(db, scope.organizationId).where('c.id', id).first()) as CallWithContext | undefined;
  if (!call) throw notFound('Call');
  const until = call.ended_at ?? new Date();
  const transcript = call.conversation_id
    ? await Message.query(db).where({ organization_id: scope.organizationId, conversation_id: call.conversation_id })
      .where('created_at', '>=', call.started_at).orderBy('created_at').orderBy('id')
    : [];
  const appointmentIds = call.patient_id
    ? ((await (db as Knex)('appointments').where({ organization_id: scope.organizationId, patient_id: call.patient_id, source: 'voice' })
      .whereBetween('created_at', [call.started_at, until]).orderBy('created_at').pluck('id')) as string[])
    : [];
  return Object.assign(call, { transcript, appointmentIds });
}
