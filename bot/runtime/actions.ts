/**
 * Runs the dialogue's actions against the domain and turns each outcome into
 * the result event the dialogue waits for. Reads go through the turn's reader;
 * writes through its transaction (opened by the first write, see turnDb.ts).
 * A refused write never spoils the rest of the turn (replies, state): booking
 * and identification decide before they write and each write is one
 * statement; cancel, reschedule and confirm run in a savepoint.
 */
import type { Knex } from 'knex';
import { AppError } from '../../lib/errors.js';
import type { OrgScope } from '../../models/base.js';
import {
  bookAppointment, cancelAppointment, confirmAppointment, getAppointment, listUpcomingAppointments, rescheduleAppointment,
  type Appointment,
} from '../../models/appointments.js';
import { availableSlotsByDoctor, distinctTimes, freeSlotsOfDoctors } from '../../models/slots.js';
import { findOverlapping } from '../../models/appointmentQueries.js';
import { createTicket, type TicketCategory } from '../../models/tickets.js';
import { handoffConversation } from '../../models/conversations.js';
import type { MessageAsk, QueueOutboundInput } from '../../models/messages.js';
import { newId } from '../../lib/ids.js';
import { setPatientOptOut, updatePatient, type Patient } from '../../models/patients.js';
import { toE164 } from '../../lib/phone.js';
import { render } from '../catalog/index.js';
import type { AppointmentSummary, DialogueAction, DialogueContext, DialogueEvent, DialogueState, SlotOffer } from '../dialogue/types.js';
import type { HandoffCategory } from '../understanding/types.js';
import { formatLocalShort } from '../format.js';
import type { ClinicContext } from './context.js';
import type { TurnDb } from './turnDb.js';
import { identifyCanChange, identifyPatient, isPhoneChannel, type IdentifyInput } from './identify.js';

/** Everything one turn's actions read and change. */
export interface TurnRuntime {
  db: TurnDb;
  /** The state_version the turn's save expects: the one it started from, moved on by its own status changes (handoff). */
  stateVersion: number;
  scope: OrgScope;
  now: Date;
  clinic: ClinicContext;
  conversation: { id: string; channel: string; address: string };
  patient: Patient | undefined;
  /** A name given off a phone channel, waiting for the phone number before a patient is made. */
  pendingName: string | undefined;
  profileName: string | null;
  /** The dialogue context of this turn; patient and location are kept current as actions run. */
  ctx: DialogueContext;
  /** Replies of this turn, stored at its end with the dialogue state (saveTurn). */
  replies: QueueOutboundInput[];
  /** A short staff-facing line about what happened (conversation.summary). */
  summary: string | undefined;
  /** Set by set_language: the conversation's language changes. */
  language: string | undefined;
}

const DEFAULT_DURATION = 30;

/** A stable number from a conversation id (FNV-1a): which of the doctors free at a time this conversation is offered. */
function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const TICKET_CATEGORY: Record<HandoffCategory | 'emergency', TicketCategory> = {
  human: 'general', other: 'general', billing: 'billing', results: 'results', complaint: 'complaint', emergency: 'emergency',
  late: 'appointment', medical: 'medical',
};

const TICKET_TITLE: Record<HandoffCategory | 'emergency', string> = {
  emergency: 'Emergency words in a patient message',
  human: 'Patient asks to talk to a person',
  other: 'Patient needs help from the team',
  billing: 'Billing question from a patient',
  results: 'Patient asks about test results',
  complaint: 'Complaint from a patient',
  late: 'Patient running late',
  medical: 'Medical question from a patient',
};

/** The AppError's code and details.reason, or rethrows anything that is not a domain refusal. */
function refusal(err: unknown): { code: string; reason: string | undefined } {
  if (!(err instanceof AppError)) throw err;
  const details = err.details && !Array.isArray(err.details) ? err.details : {};
  return { code: err.code, reason: typeof details.reason === 'string' ? details.reason : undefined };
}

/** Runs `fn` in a savepoint of the turn's transaction: a failed write is undone alone. */
async function savepoint<T>(rt: TurnRuntime, fn: (sp: Knex.Transaction) => Promise<T>): Promise<T> {
  return (await rt.db.writer()).transaction(fn);
}

function doctorName(rt: TurnRuntime, id: string): string {
  return rt.clinic.doctors.find((d) => d.id === id)?.name ?? '';
}

function summaryOf(rt: TurnRuntime, a: Appointment): AppointmentSummary {
  return { id: a.id, doctorId: a.doctor_id, doctorName: a.doctor_name ?? doctorName(rt, a.doctor_id), startTime: new Date(a.start_time).toISOString(), status: a.status };
}

function refreshPatientContext(rt: TurnRuntime): void {
  const p = rt.patient;
  rt.ctx.patient = { identified: Boolean(p && p.name && p.name !== UNKNOWN_NAME), name: p?.name ?? null, hasPhone: Boolean(p?.phone), optedOut: Boolean(p?.opted_out_at) };
}

/** The name given to a patient record made before the patient told us theirs (a STOP from an unknown number). */
export const UNKNOWN_NAME = 'Unknown';

/** The appointment, when it is this patient's; undefined otherwise (the bot never touches another patient's). */
async function ownAppointment(rt: TurnRuntime, id: string): Promise<Appointment | undefined> {
  if (!rt.patient) return undefined;
  const a = await getAppointment(rt.db.reader, rt.scope, id).catch(() => undefined);
  return a && a.patient_id === rt.patient.id ? a : undefined;
}

/**
 * Queues one reply in the state's language; `transactional` lets it through to
 * an opted-out patient (the STOP confirmation). The reply is stored at the end
 * of the turn's transaction, with the dialogue state, in one statement (saveTurn).
 */
export function queueReply(rt: TurnRuntime, state: DialogueState, action: Extract<DialogueAction, { type: 'reply' }>, transactional: boolean): void {
  rt.replies.push({
    // The id is made now: ids record the order things happened in the turn (guidance before its ticket).
    id: newId('message'), conversationId: rt.conversation.id, patientId: rt.patient?.id ?? null, channel: rt.conversation.channel, to: rt.conversation.address,
    text: render(state.language, action.key, action.params), options: action.options ?? null, sender: 'assistant',
    metadata: {
      reply_key: action.key, ...(transactional ? { transactional: true } : {}),
      ...(action.asks === 'phone' ? { ask: { kind: 'phone', label: render(state.language, 'share_phone_button') } satisfies MessageAsk } : {}),
    },
    now: rt.now,
  });
}

async function findSlots(rt: TurnRuntime, state: DialogueState, a: Extract<DialogueAction, { type: 'find_slots' }>): Promise<DialogueEvent> {
  // Rescheduling looks for room for the appointment as long as it is.
  const moving = state.flow === 'reschedule' && typeof (state.data.appointment as { id?: unknown } | undefined)?.id === 'string'
    ? await ownAppointment(rt, (state.data.appointment as { id: string }).id) : undefined;
  const duration = moving?.duration_minutes ?? DEFAULT_DURATION;
  try {
    const query = { date: a.date, durationMinutes: duration, partOfDay: a.partOfDay, now: rt.now };
    // The clinic's bookable doctors are cached with their working hours and zones: only their appointments are read.
    const spec = a.specialization?.toLowerCase();
    const cached = rt.clinic.doctors.filter((d) => (a.doctorId ? d.id === a.doctorId : d.specialization.toLowerCase() === spec));
    // A doctor asked for that the cache does not hold (deactivated or deleted since) goes the long way, which refuses it.
    const found = a.doctorId && cached.length === 0
      ? (await availableSlotsByDoctor(rt.db.reader, rt.scope, { ...query, doctorId: a.doctorId })).flatMap((d) => d.slots)
      : await freeSlotsOfDoctors(rt.db.reader, rt.scope, cached, query);
    // Every free time of the day, one doctor each (the dialogue offers the soonest, or those nearest a time asked for).
    // distinctTimes orders by time itself: the doctors' slots go in unsorted.
    const slots = distinctTimes(found, seedOf(rt.conversation.id));
    const offers: SlotOffer[] = slots.map((s) => ({ doctorId: s.doctorId, doctorName: s.doctorName, startTime: s.startTime.toISOString(), durationMinutes: duration }));
    return { type: 'slots', slots: offers };
  } catch (err) {
    refusal(err);
    return { type: 'slots', slots: [] };
  }
}

async function book(rt: TurnRuntime, a: Extract<DialogueAction, { type: 'book' }>): Promise<DialogueEvent> {
  if (!rt.patient) return { type: 'book_failed', reason: 'invalid' };
  // A chosen slot is mostly refused because someone took it since it was offered: one read finds that before the turn
  // opens its transaction. The booking checks again under the doctor's lock (a slot can go in between).
  const start = new Date(a.startTime);
  if (!Number.isNaN(start.getTime())
    && await findOverlapping(rt.db.reader, rt.scope.organizationId, a.doctorId, start, new Date(start.getTime() + a.durationMinutes * 60_000))) {
    return { type: 'book_failed', reason: 'conflict' };
  }
  try {
    const patientId = rt.patient.id;
    // No savepoint: bookAppointment refuses before it writes, so the turn's transaction stays usable.
    const created = await bookAppointment(await rt.db.writer(), rt.scope, {
      patientId, doctorId: a.doctorId, startTime: a.startTime, durationMinutes: a.durationMinutes,
      actor: 'patient', source: rt.conversation.channel === 'webchat' ? 'web' : rt.conversation.channel, now: rt.now,
    });
    rt.ctx.location = created.location ?? undefined;
    const doctor = rt.clinic.doctors.find((d) => d.id === created.doctor_id);
    rt.summary = `Booked ${doctor?.specialization ?? 'an appointment'} on ${formatLocalShort(created.start_time, rt.clinic.timeZone)}${doctor ? ` with ${doctor.name}` : ''}`;
    return { type: 'booked', appointment: summaryOf(rt, created) };
  } catch (err) {
    const { code, reason } = refusal(err);
    if (code === 'CONFLICT') return { type: 'book_failed', reason: 'conflict' };
    if (reason === 'outside_working_hours') return { type: 'book_failed', reason: 'outside_hours' };
    if (code === 'VALIDATION_ERROR') return { type: 'book_failed', reason: 'past' };
    return { type: 'book_failed', reason: 'invalid' };
  }
}

async function cancel(rt: TurnRuntime, a: Extract<DialogueAction, { type: 'cancel' }>): Promise<DialogueEvent> {
  const current = await ownAppointment(rt, a.appointmentId);
  if (!current) return { type: 'cancel_failed', reason: 'not_found' };
  try {
    const done = await savepoint(rt, (sp) => cancelAppointment(sp, rt.scope, current.id, { actor: 'patient', reason: 'Cancelled by the patient in the chat', cancelledBy: 'patient', now: rt.now }));
    rt.summary = `Cancelled the appointment of ${formatLocalShort(done.start_time, rt.clinic.timeZone)}`;
    return { type: 'cancelled', appointment: summaryOf(rt, done) };
  } catch (err) {
    const { code, reason } = refusal(err);
    if (reason === 'cancellation_window') return { type: 'cancel_failed', reason: 'window' };
    return { type: 'cancel_failed', reason: code === 'NOT_FOUND' || reason === 'invalid_transition' ? 'not_found' : 'invalid' };
  }
}

/** Atomic: the appointment row moves in one UPDATE, so the old time stays held until the new one is. */
async function reschedule(rt: TurnRuntime, a: Extract<DialogueAction, { type: 'reschedule' }>): Promise<DialogueEvent> {
  const current = await ownAppointment(rt, a.appointmentId);
  if (!current) return { type: 'reschedule_failed', reason: 'not_found' };
  try {
    const moved = await savepoint(rt, (sp) => rescheduleAppointment(sp, rt.scope, current.id, {
      startTime: a.startTime, doctorId: a.doctorId, durationMinutes: a.durationMinutes, actor: 'patient', now: rt.now,
    }));
    rt.summary = `Moved an appointment from ${formatLocalShort(current.start_time, rt.clinic.timeZone)} to ${formatLocalShort(moved.start_time, rt.clinic.timeZone)}`;
    return { type: 'rescheduled', appointment: summaryOf(rt, moved) };
  } catch (err) {
    const { code, reason } = refusal(err);
    if (reason === 'reschedule_window') return { type: 'reschedule_failed', reason: 'window' };
    if (reason === 'invalid_transition' || code === 'NOT_FOUND') return { type: 'reschedule_failed', reason: 'not_found' };
    return { type: 'reschedule_failed', reason: code === 'CONFLICT' ? 'conflict' : 'invalid' };
  }
}

async function confirm(rt: TurnRuntime, a: Extract<DialogueAction, { type: 'confirm' }>): Promise<DialogueEvent | 'failed'> {
  const current = await ownAppointment(rt, a.appointmentId);
  if (!current) return 'failed';
  try {
    const done = await savepoint(rt, (sp) => confirmAppointment(sp, rt.scope, current.id));
    rt.summary = `Confirmed the appointment of ${formatLocalShort(done.start_time, rt.clinic.timeZone)}`;
    return { type: 'confirmed', appointment: summaryOf(rt, done) };
  } catch (err) {
    refusal(err);
    return 'failed';
  }
}

async function handoff(rt: TurnRuntime, a: Extract<DialogueAction, { type: 'handoff' }>): Promise<DialogueEvent> {
  const trx = await rt.db.writer();
  const ticket = await createTicket(trx, rt.scope, {
    patientId: rt.patient?.id ?? null, conversationId: rt.conversation.id, category: TICKET_CATEGORY[a.category], priority: a.priority,
    title: TICKET_TITLE[a.category], description: a.summary, createdBy: null, source: 'bot',
  });
  // The handoff moves state_version on (as any status change does): the turn's own save expects the new one.
  rt.stateVersion = (await handoffConversation(trx, rt.scope, rt.conversation.id, { reason: a.category, now: rt.now })).state_version;
  rt.summary = `Handed to staff (${a.category}), ticket #${ticket.number}`;
  return { type: 'handed_off', ticketNumber: `#${ticket.number}` };
}

/** STOP from a number we do not know yet still has to stick: a minimal patient record carries the opt-out. */
async function optOutPatient(rt: TurnRuntime, language: string): Promise<Patient | undefined> {
  if (rt.patient) return rt.patient;
  const phone = isPhoneChannel(rt.conversation.channel) ? toE164(rt.conversation.address) : null;
  if (!phone) return undefined;
  return identifyPatient(await rt.db.writer(), rt.scope, {
    conversationId: rt.conversation.id, channel: rt.conversation.channel, address: rt.conversation.address, current: undefined,
    name: rt.profileName?.trim() || UNKNOWN_NAME, language, timeZone: rt.clinic.timeZone,
  });
}

async function setOptOut(rt: TurnRuntime, state: DialogueState, optedOut: boolean): Promise<void> {
  const patient = optedOut ? await optOutPatient(rt, state.language) : rt.patient;
  if (!patient) return;
  await setPatientOptOut(await rt.db.writer(), rt.scope, patient.id, optedOut);
  rt.patient = { ...patient, opted_out_at: optedOut ? rt.now : null } as Patient;
  refreshPatientContext(rt);
  if (optedOut) rt.summary = 'Opted out of messages';
}

async function setPatient(rt: TurnRuntime, state: DialogueState, a: Extract<DialogueAction, { type: 'set_patient' }>, earlierName: string | undefined): Promise<void> {
  const name = a.name ?? rt.pendingName ?? earlierName;
  const input: IdentifyInput = {
    conversationId: rt.conversation.id, channel: rt.conversation.channel, address: rt.conversation.address, current: rt.patient,
    name, phone: a.phone, language: state.language, timeZone: rt.clinic.timeZone,
  };
  // No savepoint: identifyPatient refuses (409, an unknown patient) before it writes, and each write is one statement.
  const patient = identifyCanChange(input) ? await identifyPatient(await rt.db.writer(), rt.scope, input) : rt.patient;
  if (patient) {
    rt.patient = patient;
    rt.pendingName = undefined;
  } else if (name) {
    rt.pendingName = name;
  }
  refreshPatientContext(rt);
}

async function setLanguage(rt: TurnRuntime, language: string): Promise<void> {
  rt.language = language;
  if (rt.patient && rt.patient.preferred_language !== language) {
    rt.patient = await updatePatient(await rt.db.writer(), rt.scope, rt.patient.id, { preferred_language: language });
  }
}

export interface ActionOptions {
  /** Replies of a step that opts the patient out are transactional. */
  transactional: boolean;
  /** A name kept in the state from an earlier turn (see TurnRuntime.pendingName). */
  earlierName: string | undefined;
}

/**
 * Runs one action; returns the event to feed back into the dialogue, null when
 * the action has no result, or 'confirm_failed' (the dialogue has no event for it).
 */
export async function runAction(rt: TurnRuntime, state: DialogueState, action: DialogueAction, opts: ActionOptions): Promise<DialogueEvent | null | 'confirm_failed'> {
  switch (action.type) {
    case 'reply': queueReply(rt, state, action, opts.transactional); return null;
    case 'find_slots': return findSlots(rt, state, action);
    case 'list_appointments': {
      const rows = rt.patient ? await listUpcomingAppointments(rt.db.reader, rt.scope, rt.patient.id, rt.now) : [];
      return { type: 'appointments', appointments: rows.map((r) => summaryOf(rt, r)) };
    }
    case 'book': return book(rt, action);
    case 'cancel': return cancel(rt, action);
    case 'reschedule': return reschedule(rt, action);
    case 'confirm': {
      const result = await confirm(rt, action);
      return result === 'failed' ? 'confirm_failed' : result;
    }
    case 'handoff': return handoff(rt, action);
    case 'opt_out': await setOptOut(rt, state, true); return null;
    case 'opt_in': await setOptOut(rt, state, false); return null;
    case 'set_language': await setLanguage(rt, action.language); return null;
    case 'set_patient': await setPatient(rt, state, action, opts.earlierName); return null;
  }
}

export { refreshPatientContext };
