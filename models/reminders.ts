/**
 * Appointment reminders: one row per appointment and offset (the clinic's
 * `reminder_offsets_minutes`), kept in step with the appointment in the same
 * transaction as every booking, reschedule and cancellation. The reminder job
 * claims due rows with SKIP LOCKED and a lease, and turns each into exactly
 * one queued outbound message: the message, the reminder's `sent` and the
 * conversation's reminder context commit together, guarded by the claim.
 */
import type { Knex } from 'knex';
import { recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { loadOrganization, nextSendTime, orgSettings } from './settings.js';
import type { Organization } from './organizations.js';
import { outboundInsert, queueOutboundMessage, withTransaction, type Message } from './messages.js';

export const REMINDER_STATUSES = ['pending', 'claimed', 'sent', 'skipped', 'cancelled', 'failed'] as const;
export type ReminderStatus = (typeof REMINDER_STATUSES)[number];

export interface ReminderRow {
  id: string;
  organization_id: string;
  appointment_id: string;
  offset_minutes: number;
  due_at: Date;
  channel: string | null;
  status: ReminderStatus;
  claimed_until: Date | null;
  attempts: number;
  message_id: string | null;
  skip_reason: string | null;
  sent_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Where a reminder goes when nothing better is known: the patient's latest conversation's channel, else SMS to a known phone. */
const reminderChannel = (latestChannel: string | null | undefined, phone: string | null): string | null => latestChannel ?? (phone ? 'sms' : null);

async function plannedChannel(k: Knex, orgId: string, patientId: string, phone: string | null): Promise<string | null> {
  const latest = (await k('conversations').where({ organization_id: orgId, patient_id: patientId }).whereNull('deleted_at')
    .orderBy('last_message_at', 'desc').orderBy('id', 'desc').first('channel')) as { channel: string } | undefined;
  return reminderChannel(latest?.channel, phone);
}

/**
 * When the reminder `offsetMinutes` before `start` goes out: pushed out of the
 * quiet hours (local time) to the next allowed time, unless the appointment
 * starts before that time (then it keeps its time: late is worse than quiet).
 */
export function reminderDueAt(start: Date, offsetMinutes: number, quiet: Parameters<typeof nextSendTime>[0], timeZone: string): Date {
  const due = new Date(start.getTime() - offsetMinutes * 60_000);
  const allowed = nextSendTime(quiet, timeZone, due);
  return allowed.getTime() < start.getTime() ? allowed : due;
}

/** What the reminder plan needs of an appointment and its patient. */
export interface NewAppointmentForReminders { status: string; start_time: Date; patient_id: string; phone: string | null }

/** A reminder row to insert with a new appointment (see planNewAppointmentReminders). */
export type PlannedReminder = Pick<ReminderRow, 'id' | 'organization_id' | 'appointment_id' | 'offset_minutes' | 'due_at' | 'channel' | 'status' | 'created_at' | 'updated_at'>;

/**
 * The reminders a new appointment gets, one per offset whose time is still
 * ahead. Pure: a booking reads what it needs (the clinic's settings, the
 * patient's latest channel) before it takes the doctor's booking lock, and
 * inserts these with the appointment.
 */
export function planNewAppointmentReminders(input: {
  organization: Pick<Organization, 'id' | 'settings' | 'time_zone'>; appointmentId: string; start: Date; latestChannel: string | null; phone: string | null; now: Date;
}): PlannedReminder[] {
  const settings = orgSettings(input.organization);
  const channel = reminderChannel(input.latestChannel, input.phone);
  const rows: PlannedReminder[] = [];
  for (const offset of reminderOffsets(settings.reminder_offsets_minutes)) {
    const dueAt = reminderDueAt(input.start, offset, settings.quiet_hours, input.organization.time_zone);
    if (dueAt.getTime() <= input.now.getTime()) continue;
    rows.push({
      id: newId('reminder'), organization_id: input.organization.id, appointment_id: input.appointmentId, offset_minutes: offset,
      due_at: dueAt, channel, status: 'pending', created_at: input.now, updated_at: input.now,
    });
  }
  return rows;
}

const reminderOffsets = (offsets: readonly number[] | undefined): number[] => [...new Set((offsets ?? []).filter((m) => Number.isInteger(m) && m > 0))];

/**
 * Moves or cancels the reminders of an existing appointment so they match it
 * now (a new one gets planNewAppointmentReminders). Call it in the transaction
 * that changed the appointment.
 * - not scheduled/confirmed: pending and claimed rows are cancelled;
 * - an offset whose time has passed is not created (a pending one is cancelled, too_late);
 * - a moved reminder that had already gone out (or was skipped) starts again under a new id;
 * - a claimed reminder that moves or is cancelled loses its claim: the job's late record changes nothing.
 */
export async function syncRemindersForAppointment(db: Db, scope: OrgScope, appointmentId: string, opts: { now?: Date } = {}): Promise<void> {
  const k = db as Knex;
  const orgId = scope.organizationId;
  const now = opts.now ?? new Date();
  const appt = (await k('appointments as a').join('patients as p', 'p.id', 'a.patient_id')
    .where({ 'a.id': appointmentId, 'a.organization_id': orgId })
    .first('a.status', 'a.start_time', 'a.patient_id', 'p.phone')) as NewAppointmentForReminders | undefined;
  if (!appt) return;
  const existing = (await k('reminders').where({ appointment_id: appointmentId, organization_id: orgId }).forUpdate()) as ReminderRow[];
  const open = (r: ReminderRow) => r.status === 'pending' || r.status === 'claimed';
  const stamp = { updated_at: now, claimed_until: null };

  if (appt.status !== 'scheduled' && appt.status !== 'confirmed') {
    const ids = existing.filter(open).map((r) => r.id);
    if (ids.length) await k('reminders').whereIn('id', ids).update({ ...stamp, status: 'cancelled', skip_reason: `appointment_${appt.status}` });
    return;
  }

  const org = await loadOrganization(db, scope);
  const settings = orgSettings(org);
  const offsets = reminderOffsets(settings.reminder_offsets_minutes);
  const start = new Date(appt.start_time);
  const channel = await plannedChannel(k, orgId, appt.patient_id, appt.phone);
  const byOffset = new Map(existing.map((r) => [r.offset_minutes, r]));
  const inserts: Record<string, unknown>[] = [];

  for (const offset of offsets) {
    const dueAt = reminderDueAt(start, offset, settings.quiet_hours, org.time_zone);
    const row = byOffset.get(offset);
    const late = dueAt.getTime() <= now.getTime();
    if (!row) {
      if (late) continue;
      inserts.push({
        id: newId('reminder'), organization_id: orgId, appointment_id: appointmentId, offset_minutes: offset,
        due_at: dueAt, channel, status: 'pending', created_at: now, updated_at: now,
      });
      continue;
    }
    if (new Date(row.due_at).getTime() === dueAt.getTime()) continue;
    if (late) {
      if (open(row)) await k('reminders').where({ id: row.id }).update({ ...stamp, due_at: dueAt, status: 'cancelled', skip_reason: 'too_late' });
      continue;
    }
    const restart = open(row) ? {} : { id: newId('reminder'), attempts: 0, message_id: null, sent_at: null, skip_reason: null };
    await k('reminders').where({ id: row.id }).update({ ...stamp, ...restart, due_at: dueAt, status: 'pending', channel });
  }
  if (inserts.length) await k('reminders').insert(inserts);
  // Offsets the clinic no longer uses: their pending reminders are dropped.
  const gone = existing.filter((r) => open(r) && !offsets.includes(r.offset_minutes)).map((r) => r.id);
  if (gone.length) await k('reminders').whereIn('id', gone).update({ ...stamp, status: 'cancelled', skip_reason: 'offset_removed' });
}

/** A reminder claimed by one job run: `attempts` fences every record call. */
export interface ClaimedReminder extends ReminderRow { status: 'claimed' }

export interface ClaimRemindersOptions {
  now: Date;
  limit: number;
  leaseSeconds: number;
  /** Only these organizations (sharding by tenant; tests). */
  organizationIds?: readonly string[];
}

/**
 * Claims up to `limit` due reminders in one statement: pending and due, or
 * claimed with a lease older than `now` (the claimer crashed). Sets status
 * claimed, claimed_until = now + lease, attempts + 1. Concurrent claimers
 * (other instances) skip each other's rows.
 */
export async function claimDueReminders(db: Db, opts: ClaimRemindersOptions): Promise<ClaimedReminder[]> {
  const bindings: Knex.Value[] = [new Date(opts.now.getTime() + opts.leaseSeconds * 1000), opts.now, opts.now, opts.now];
  let orgFilter = '';
  if (opts.organizationIds) {
    if (opts.organizationIds.length === 0) return [];
    orgFilter = 'AND organization_id = ANY(?::text[])';
    bindings.push([...opts.organizationIds]);
  }
  const result = (await (db as Knex).raw(
    `UPDATE reminders SET status = 'claimed', claimed_until = ?, attempts = attempts + 1, updated_at = ?
     WHERE id IN (
       SELECT id FROM reminders
       WHERE ((status = 'pending' AND due_at <= ?) OR (status = 'claimed' AND claimed_until < ?)) ${orgFilter}
       ORDER BY due_at, id
       LIMIT ?
       FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [...bindings, opts.limit],
  )) as { rows: ClaimedReminder[] };
  return result.rows.sort((a, b) => new Date(a.due_at).getTime() - new Date(b.due_at).getTime() || (a.id < b.id ? -1 : 1));
}

export interface ReminderClaimRef { id: string; attempts: number }

/** Sets the conversation's reminder context (bot/engine.ts `setReminderContext`), handed in so models never import bot. */
export type SetReminderContext = (db: Db, scope: OrgScope, conversationId: string, appointmentId: string) => Promise<void>;

export interface ReminderQueuedInput {
  appointmentId: string;
  patientId: string;
  conversationId: string | null;
  channel: string;
  to: string;
  text: string;
  now: Date;
  /** Makes the patient's next message in the conversation the answer to this reminder. */
  setContext?: SetReminderContext;
}

/**
 * In ONE transaction: marks the claimed reminder sent (guarded by the claim),
 * queues its outbound message and sets the conversation's reminder context.
 * Returns null, with nothing written, when the claim was lost (the lease ran
 * out and another run took it, or the appointment moved or was cancelled).
 */
export async function recordReminderQueued(db: Db, scope: OrgScope, claim: ReminderClaimRef, input: ReminderQueuedInput): Promise<Message | null> {
  return withTransaction(db, async (trx) => {
    const [won] = (await trx('reminders').where({ id: claim.id, organization_id: scope.organizationId, status: 'claimed', attempts: claim.attempts })
      .update({ status: 'sent', channel: input.channel, sent_at: input.now, claimed_until: null, updated_at: input.now }).returning('id')) as { id: string }[];
    if (!won) return null;
    const message = await queueOutboundMessage(trx, scope, {
      conversationId: input.conversationId, patientId: input.patientId, channel: input.channel, to: input.to, text: input.text,
      sender: 'system', reminderId: claim.id, metadata: { reminder_appointment_id: input.appointmentId }, now: input.now,
    });
    await trx('reminders').where({ id: claim.id }).update({ message_id: message.id });
    if (input.conversationId && input.setContext) await input.setContext(trx, scope, input.conversationId, input.appointmentId);
    await recordEvent(trx, scope.organizationId, 'reminder.sent', claim.id, {
      reminder_id: claim.id, appointment_id: input.appointmentId, patient_id: input.patientId, message_id: message.id, channel: input.channel,
    }, newId('event'));
    return message;
  });
}

export interface ReminderQueuedItem extends ReminderQueuedInput { claim: ReminderClaimRef }

/**
 * recordReminderQueued for many reminders of one organization, set-wise and in
 * ONE transaction: one guarded UPDATE marks the reminders whose claims are
 * still ours sent (with the message ids made here), one INSERT queues exactly
 * their messages (and bumps each conversation's counters), one INSERT writes
 * their reminder.sent events; then the reminder context is set once per
 * conversation. A lost claim gets nothing written (the unique index on
 * messages.reminder_id backs the fence). Returns the reminder ids recorded.
 */
export async function recordRemindersQueued(db: Db, scope: OrgScope, items: readonly ReminderQueuedItem[], now: Date): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  return withTransaction(db, async (trx) => {
    const messageIds = items.map(() => newId('message'));
    const won = (await trx.raw(
      `UPDATE reminders r SET status = 'sent', channel = i.channel, sent_at = ?, claimed_until = NULL, updated_at = ?, message_id = i.message_id
       FROM unnest(?::text[], ?::int[], ?::text[], ?::text[]) AS i(id, attempts, channel, message_id)
       WHERE r.id = i.id AND r.organization_id = ? AND r.status = 'claimed' AND r.attempts = i.attempts
       RETURNING r.id`,
      [now, now, items.map((it) => it.claim.id), items.map((it) => it.claim.attempts), items.map((it) => it.channel), messageIds,
        scope.organizationId] as unknown as readonly Knex.RawBinding[],
    )) as { rows: { id: string }[] };
    const recorded = new Set(won.rows.map((r) => r.id));
    const chosen = items.map((it, i) => ({ it, messageId: messageIds[i]! })).filter(({ it }) => recorded.has(it.claim.id));
    if (chosen.length === 0) return recorded;
    const insert = outboundInsert(trx, scope, chosen.map(({ it, messageId }) => ({
      id: messageId, conversationId: it.conversationId, patientId: it.patientId, channel: it.channel, to: it.to, text: it.text,
      sender: 'system' as const, reminderId: it.claim.id, metadata: { reminder_appointment_id: it.appointmentId }, now,
    })));
    await trx.raw(
      `WITH ins AS (${insert.sql} RETURNING conversation_id), counts AS (
         SELECT conversation_id, count(*)::int AS n FROM ins WHERE conversation_id IS NOT NULL GROUP BY conversation_id
       ), conv AS (
         UPDATE conversations c SET message_count = c.message_count + counts.n, last_message_at = greatest(c.last_message_at, ?), updated_at = CURRENT_TIMESTAMP
         FROM counts WHERE c.id = counts.conversation_id AND c.organization_id = ?
       )
       SELECT count(*)::int AS n FROM ins`,
      [...insert.bindings, now, scope.organizationId],
    );
    // Once per conversation (the latest reminder's appointment wins, as it would one by one), in id order (lock order).
    const contexts = new Map<string, ReminderQueuedItem>();
    for (const { it } of chosen) if (it.conversationId && it.setContext) contexts.set(it.conversationId, it);
    for (const [conversationId, it] of [...contexts].sort(([a], [b]) => (a < b ? -1 : 1))) await it.setContext!(trx, scope, conversationId, it.appointmentId);
    await trx('events').insert(chosen.map(({ it, messageId }) => ({
      id: newId('event'), organization_id: scope.organizationId, event: 'reminder.sent', subject_id: it.claim.id, data: JSON.stringify({
        reminder_id: it.claim.id, appointment_id: it.appointmentId, patient_id: it.patientId, message_id: messageId, channel: it.channel,
      }),
    })));
    return recorded;
  });
}

/** skipReminder for many claims in one statement (each guarded by its claim); returns the ids skipped. */
export async function skipReminders(db: Db, items: readonly { claim: ReminderClaimRef; reason: SkipReason | string }[], now: Date): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const result = (await (db as Knex).raw(
    `UPDATE reminders r SET status = 'skipped', skip_reason = i.reason, claimed_until = NULL, updated_at = ?
     FROM unnest(?::text[], ?::int[], ?::text[]) AS i(id, attempts, reason)
     WHERE r.id = i.id AND r.status = 'claimed' AND r.attempts = i.attempts
     RETURNING r.id`,
    [now, items.map((i) => i.claim.id), items.map((i) => i.claim.attempts), items.map((i) => i.reason)] as unknown as readonly Knex.RawBinding[],
  )) as { rows: { id: string }[] };
  return new Set(result.rows.map((r) => r.id));
}

export type SkipReason = 'appointment_cancelled' | 'appointment_completed' | 'appointment_no_show' | 'appointment_past' | 'opted_out' | 'no_address' | 'patient_deleted';

/** Not sent on purpose: status skipped with the reason (guarded by the claim). */
export async function skipReminder(db: Db, claim: ReminderClaimRef, reason: SkipReason | string, now: Date): Promise<boolean> {
  const n = await (db as Knex)('reminders').where({ id: claim.id, status: 'claimed', attempts: claim.attempts })
    .update({ status: 'skipped', skip_reason: reason, claimed_until: null, updated_at: now });
  return n === 1;
}

/** Gave up (rendering or recording kept failing): status failed with the reason. */
export async function failReminder(db: Db, claim: ReminderClaimRef, reason: string, now: Date): Promise<boolean> {
  const n = await (db as Knex)('reminders').where({ id: claim.id, status: 'claimed', attempts: claim.attempts })
    .update({ status: 'failed', skip_reason: reason.slice(0, 500), claimed_until: null, updated_at: now });
  return n === 1;
}

/** What the appointment detail shows: each reminder's channel, time and status, in time order. */
export async function listAppointmentReminders(db: Db, appointmentId: string): Promise<{ channel: string | null; time: Date; status: ReminderStatus; offset_minutes: number }[]> {
  const rows = (await (db as Knex)('reminders').where({ appointment_id: appointmentId })
    .orderBy('due_at').orderBy('offset_minutes', 'desc').select('channel', 'due_at', 'status', 'offset_minutes')) as Pick<ReminderRow, 'channel' | 'due_at' | 'status' | 'offset_minutes'>[];
  // A claimed reminder is still pending to the outside world.
  return rows.map((r) => ({ channel: r.channel, time: r.due_at, status: r.status === 'claimed' ? 'pending' : r.status, offset_minutes: r.offset_minutes }));
}
