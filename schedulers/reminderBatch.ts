/**
 * The reminder job's set-wise steps, so a round costs a few statements instead
 * of a dozen per reminder: what each claimed reminder is about (one query per
 * round), why one is not sent, and the conversations a chunk's reminders go to
 * (looked up and opened together). Anything unusual (an idle conversation to
 * close, a row to patch, a race to open one) goes through
 * findOrCreateOpenConversation one address at a time, exactly as before.
 */
import type { Knex } from 'knex';
import { newId } from '../lib/ids.js';
import type { OrgScope } from '../models/base.js';
import { findOrCreateOpenConversation } from '../models/conversations.js';
import type { ClaimedReminder } from '../models/reminders.js';

export interface ReminderSubject {
  status: string;
  start_time: Date;
  patient_id: string;
  phone: string | null;
  preferred_language: string | null;
  opted_out_at: Date | null;
  deleted_at: Date | null;
  doctor_name: string;
  /** Reminders of the same appointment with a smaller offset that are due too (this one is then stale). */
  newer_due: number;
}

/** Why a reminder is not sent (null: it is), from its subject as read now; no subject: the appointment is gone. */
export function skipReason(s: ReminderSubject | undefined, now: Date): string | null {
  return !s ? 'appointment_deleted'
    : s.status !== 'scheduled' && s.status !== 'confirmed' ? `appointment_${s.status}`
      : new Date(s.start_time).getTime() <= now.getTime() ? 'appointment_past'
        : s.deleted_at ? 'patient_deleted'
          : s.opted_out_at ? 'opted_out'
            // The job did not run for a while: only the latest due reminder goes out.
            : s.newer_due > 0 ? 'superseded' : null;
}

/** The subject of every claimed reminder in one query, by reminder id (none for a deleted appointment). */
export async function loadReminderSubjects(k: Knex, claimed: readonly ClaimedReminder[], now: Date): Promise<Map<string, ReminderSubject>> {
  if (claimed.length === 0) return new Map();
  const { rows } = (await k.raw(
    `SELECT r.id AS reminder_id, s.*
     FROM unnest(?::text[], ?::text[], ?::text[], ?::int[]) AS r(id, appointment_id, organization_id, offset_minutes)
     JOIN LATERAL (
       SELECT a.status, a.start_time, a.patient_id, p.phone, p.preferred_language, p.opted_out_at, p.deleted_at, d.name AS doctor_name,
         (SELECT count(*) FROM reminders o WHERE o.appointment_id = a.id AND o.offset_minutes < r.offset_minutes AND o.due_at <= ?
           AND o.status IN ('pending', 'claimed', 'sent'))::int AS newer_due
       FROM appointments a JOIN patients p ON p.id = a.patient_id JOIN doctors d ON d.id = a.doctor_id
       WHERE a.id = r.appointment_id AND a.organization_id = r.organization_id
     ) s ON true`,
    [claimed.map((r) => r.id), claimed.map((r) => r.appointment_id), claimed.map((r) => r.organization_id), claimed.map((r) => r.offset_minutes), now] as unknown as readonly Knex.RawBinding[],
  )) as { rows: (ReminderSubject & { reminder_id: string })[] };
  return new Map(rows.map((row) => [row.reminder_id, row]));
}

/** Each patient's latest live conversation (channel and address), by patient id. */
export async function latestConversationsOfPatients(trx: Knex.Transaction, scope: OrgScope, patientIds: readonly string[]): Promise<Map<string, { channel: string; channel_address: string }>> {
  if (patientIds.length === 0) return new Map();
  const { rows } = (await trx.raw(
    `SELECT DISTINCT ON (patient_id) patient_id, channel, channel_address FROM conversations
     WHERE organization_id = ? AND patient_id = ANY(?::text[]) AND deleted_at IS NULL
     ORDER BY patient_id, last_message_at DESC, id DESC`,
    [scope.organizationId, [...patientIds]] as unknown as readonly Knex.RawBinding[],
  )) as { rows: { patient_id: string; channel: string; channel_address: string }[] };
  return new Map(rows.map((r) => [r.patient_id, r]));
}

export interface ConversationWant { channel: string; address: string; patientId: string; language: string }

export const addressKey = (channel: string, address: string) => `${channel}\u0000${address}`;

/**
 * findOrCreateOpenConversation for many addresses: open conversations in use
 * as they are are read in one query, missing ones are opened in one INSERT
 * (event conversation.created each); the rest one by one. By addressKey.
 */
export async function openConversationsFor(trx: Knex.Transaction, scope: OrgScope, wants: readonly ConversationWant[], idleMinutes: number, now: Date): Promise<Map<string, string>> {
  const orgId = scope.organizationId;
  const byKey = new Map<string, ConversationWant>();
  for (const w of wants) if (!byKey.has(addressKey(w.channel, w.address))) byKey.set(addressKey(w.channel, w.address), w);
  const unique = [...byKey.values()].sort((a, b) => (addressKey(a.channel, a.address) < addressKey(b.channel, b.address) ? -1 : 1));
  const result = new Map<string, string>();
  if (unique.length === 0) return result;
  const { rows: open } = (await trx.raw(
    `SELECT c.id, c.channel, c.channel_address, c.patient_id, c.language, c.last_message_at
     FROM conversations c JOIN unnest(?::text[], ?::text[]) AS w(channel, address) ON c.channel = w.channel AND c.channel_address = w.address
     WHERE c.organization_id = ? AND c.deleted_at IS NULL AND c.status <> 'closed'`,
    [unique.map((w) => w.channel), unique.map((w) => w.address), orgId] as unknown as readonly Knex.RawBinding[],
  )) as { rows: { id: string; channel: string; channel_address: string; patient_id: string | null; language: string | null; last_message_at: Date }[] };
  const idleBefore = now.getTime() - idleMinutes * 60_000;
  const slow: ConversationWant[] = [];
  const openByKey = new Map(open.map((c) => [addressKey(c.channel, c.channel_address), c]));
  const missing: ConversationWant[] = [];
  for (const w of unique) {
    const c = openByKey.get(addressKey(w.channel, w.address));
    if (!c) missing.push(w);
    // Idle (to be closed and replaced) or missing its patient or language (to be patched): the one-by-one path does it.
    else if (new Date(c.last_message_at).getTime() < idleBefore || !c.patient_id || !c.language) slow.push(w);
    else result.set(addressKey(w.channel, w.address), c.id);
  }
  if (missing.length > 0) {
    const ids = missing.map(() => newId('conversation'));
    const { rows: created } = (await trx.raw(
      `INSERT INTO conversations (id, organization_id, patient_id, channel, channel_address, status, language, last_message_at, created_at, updated_at)
       SELECT w.id, ?, w.patient_id, w.channel, w.address, 'bot', w.language, ?, ?, ?
       FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS w(id, patient_id, channel, address, language)
       ON CONFLICT (organization_id, channel, channel_address) WHERE status <> 'closed' AND deleted_at IS NULL DO NOTHING
       RETURNING id, patient_id, channel, channel_address`,
      [orgId, now, now, now, ids, missing.map((w) => w.patientId), missing.map((w) => w.channel), missing.map((w) => w.address),
        missing.map((w) => w.language)] as unknown as readonly Knex.RawBinding[],
    )) as { rows: { id: string; patient_id: string | null; channel: string; channel_address: string }[] };
    for (const c of created) result.set(addressKey(c.channel, c.channel_address), c.id);
    if (created.length > 0) {
      await trx('events').insert(created.map((c) => ({
        id: newId('event'), organization_id: orgId, event: 'conversation.created', subject_id: c.id,
        data: JSON.stringify({ conversation_id: c.id, patient_id: c.patient_id, channel: c.channel }),
      })));
    }
    // Opened by another transaction meanwhile: read theirs the usual way.
    for (const w of missing) if (!result.has(addressKey(w.channel, w.address))) slow.push(w);
  }
  for (const w of slow) {
    const c = await findOrCreateOpenConversation(trx, scope, { channel: w.channel, address: w.address, patientId: w.patientId, language: w.language, idleMinutes, now });
    result.set(addressKey(w.channel, w.address), c.id);
  }
  return result;
}
