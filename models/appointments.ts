/**
 * Booking, rescheduling, cancelling and the other status changes of an
 * appointment. Each is one domain operation taking the organization scope;
 * each runs in its own transaction (a savepoint when given one), writes its
 * domain event there, and never double-books: a pre-check answers the common
 * case with the conflicting id, and the `appointments_no_overlap` exclusion
 * constraint (23P01) decides the concurrent one.
 */
import type { Knex } from 'knex';
import { recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { AppError, conflict, fieldError, unprocessable } from '../lib/errors.js';
import { getOrganization } from './organizations.js';
import { orgSettings } from './settings.js';
import { doctorsQuery, type Doctor } from './doctors.js';
import { localTime, rangesOn, localDate, weekdayOf, withinWorkingHours } from './workingHours.js';
import {
  Appointment, ACTIVE_STATUSES, DURATIONS, findOverlapping, getAppointment,
  type AppointmentStatus,
} from './appointmentQueries.js';
import { planNewAppointmentReminders, syncRemindersForAppointment } from './reminders.js';

export * from './appointmentQueries.js';

/** Who asks: the bot acting for a patient is held to the clinic's windows; staff and API users are not. */
export type Actor = 'patient' | 'staff';

export interface BookAppointmentInput {
  patientId: string;
  doctorId: string;
  startTime: Date | string;
  durationMinutes: number;
  type?: string;
  reason?: string | null;
  notes?: string | null;
  /** Defaults to the doctor's location. */
  location?: string | null;
  /** Channel or client that booked: api, patient, whatsapp, sms, web, voice... */
  source?: string;
  actor: Actor;
  createdBy?: string;
  /** The current time (injectable for tests); defaults to the system clock. */
  now?: Date;
}

export interface CancelAppointmentInput {
  reason?: string | null;
  actor: Actor;
  cancelledBy?: string;
  /** Recorded on the event for whoever notifies the patient. */
  notifyPatient?: boolean;
  now?: Date;
}
export interface RescheduleAppointmentInput { startTime: Date | string; doctorId?: string; durationMinutes?: number; actor: Actor; now?: Date }
export interface AppointmentDetailsInput { type?: string; reason?: string | null; notes?: string | null; location?: string | null }

const PG_EXCLUSION_VIOLATION = '23P01';
const PG_DEADLOCK = '40P01';

/** The PostgreSQL error code, whether knex or Objection wrapped the driver's error. */
function pgCode(err: unknown): string | undefined {
  const e = err as { code?: string; nativeError?: { code?: string } };
  return e?.nativeError?.code ?? e?.code;
}

function slotTaken(doctorId: string, start: Date, conflictingId: string | null): AppError {
  return conflict('Appointment time slot already booked', {
    doctor_id: doctorId, requested_time: start.toISOString(), conflicting_appointment_id: conflictingId,
  });
}

function parseStart(value: Date | string, now: Date): Date {
  const start = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(start.getTime())) throw fieldError('start_time', 'must be an ISO 8601 date-time, e.g. 2027-01-25T14:30:00Z');
  if (start.getTime() <= now.getTime()) throw fieldError('start_time', 'must be in the future');
  return start;
}

function checkDuration(minutes: number): void {
  if (!(DURATIONS as readonly number[]).includes(minutes)) throw fieldError('duration_minutes', `must be one of ${DURATIONS.join(', ')}`);
}

async function bookableDoctor(db: Db, orgId: string, doctorId: string): Promise<Doctor> {
  const doctor = await doctorsQuery(db, orgId).where('doctors.id', doctorId).first();
  if (!doctor) throw new AppError('NOT_FOUND', 'Doctor not found', { resource: 'doctor', field: 'doctor_id', id: doctorId });
  if (!doctor.active) throw unprocessable('The doctor is not accepting appointments', { field: 'doctor_id', reason: 'doctor_inactive' });
  return doctor;
}

function assertWithinHours(doctor: Doctor, start: Date, end: Date): void {
  const zone = doctor.effective_time_zone;
  if (withinWorkingHours(doctor.working_hours, start, end, zone)) return;
  const date = localDate(start, zone);
  const ranges = rangesOn(doctor.working_hours, date);
  const hours = ranges.length ? ranges.join(', ') : 'no working hours';
  throw unprocessable(
    `start_time: ${localTime(start, zone)}-${localTime(end, zone)} on ${date} (${zone}) is outside the doctor's working hours for ${weekdayOf(date)} (${hours})`,
    { field: 'start_time', reason: 'outside_working_hours', date, time_zone: zone, working_hours: ranges },
  );
}

/**
 * Runs `write` in a transaction (or a savepoint of the caller's) holding the
 * doctor's booking lock, unless an active appointment of the doctor overlaps
 * [start, end): then it answers 409 with that appointment. When the exclusion
 * constraint rejects the write, it answers 409 with the appointment that won.
 *
 * The lock makes bookings of one doctor go one at a time, so the second of
 * two for the same time finds the first and answers 409 at once. Without it
 * both insert into the exclusion index, each waits for the other, and
 * PostgreSQL only breaks that after deadlock_timeout (1 s), with both
 * connections held meanwhile: under load the pool ran dry behind them and
 * every chat turn stalled for a second.
 *
 * Everything a booking only reads is read before the lock (callers validate
 * first): the lock is held to the end of the caller's transaction, so each
 * round trip under it is one the doctor's next booking waits for. The lock and
 * the overlap check are one statement. Its snapshot is taken before the lock
 * is granted, so it can miss a booking committed while it waited: the write
 * then meets the constraint (without waiting, as the winner has committed)
 * and answers 409 the same way.
 */
async function guardOverlap<T>(db: Db, orgId: string, doctorId: string, start: Date, end: Date, exceptId: string | undefined, write: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (db as Knex).transaction(async (trx) => {
        const { rows } = (await trx.raw(
          `SELECT pg_advisory_xact_lock(hashtextextended(?, 0)) AS locked, (
             SELECT id FROM appointments
             WHERE organization_id = ? AND doctor_id = ? AND status IN ('${ACTIVE_STATUSES.join("', '")}')
               AND start_time < ? AND end_time > ? AND id <> ?
             ORDER BY start_time LIMIT 1) AS taken`,
          [`bookings:${doctorId}`, orgId, doctorId, end, start, exceptId ?? ''],
        )) as { rows: { taken: string | null }[] };
        if (rows[0]?.taken) throw slotTaken(doctorId, start, rows[0].taken);
        return write(trx);
      });
    } catch (err) {
      // A deadlock can still come from elsewhere (a change of the doctor's appointments outside this guard):
      // PostgreSQL aborts one side (40P01). Its savepoint is gone; by the retry the winner has committed, so
      // the retry meets the constraint (or the pre-check) and answers 409 with the winner's id.
      if (pgCode(err) === PG_DEADLOCK && attempt < 4) {
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
        continue;
      }
      if (pgCode(err) !== PG_EXCLUSION_VIOLATION) throw err;
      throw slotTaken(doctorId, start, await findOverlapping(db, orgId, doctorId, start, end, exceptId));
    }
  }
}

/**
 * Books an appointment; see the rules in shared/API.md "Booking rules". The
 * patient, the doctor and the reminder plan are read first; under the
 * doctor's lock the appointment, its event and its reminders go in one statement.
 */
export async function bookAppointment(db: Db, scope: OrgScope, input: BookAppointmentInput): Promise<Appointment> {
  const orgId = scope.organizationId;
  const now = input.now ?? new Date();
  checkDuration(input.durationMinutes);
  const start = parseStart(input.startTime, now);
  const end = new Date(start.getTime() + input.durationMinutes * 60_000);
  const patient = (await (db as Knex)('patients').select('id', 'status', 'phone')
    .where({ id: input.patientId, organization_id: orgId }).whereNull('deleted_at').first()) as { id: string; status: string; phone: string | null } | undefined;
  if (!patient) throw new AppError('NOT_FOUND', 'Patient not found', { resource: 'patient', field: 'patient_id', id: input.patientId });
  if (patient.status !== 'active') throw unprocessable('The patient is inactive', { field: 'patient_id', reason: 'patient_inactive' });
  const doctor = await bookableDoctor(db, orgId, input.doctorId);
  assertWithinHours(doctor, start, end);
  const id = newId('appointment');
  const reminders = await planNewAppointmentReminders(db, scope, { appointmentId: id, start, patientId: patient.id, phone: patient.phone, now });
  const row = {
    id,
    organization_id: orgId,
    patient_id: patient.id,
    doctor_id: doctor.id,
    start_time: start,
    end_time: end,
    duration_minutes: input.durationMinutes,
    type: input.type ?? 'consultation',
    status: 'scheduled',
    reason: input.reason ?? null,
    notes: input.notes ?? null,
    location: input.location ?? doctor.location,
    source: input.source ?? (input.actor === 'patient' ? 'patient' : 'api'),
    created_by: input.createdBy ?? null,
  };
  const event = {
    id: newId('event'), organization_id: orgId, event: 'appointment.created', subject_id: id,
    data: JSON.stringify({ appointment_id: id, patient_id: patient.id, doctor_id: doctor.id, start_time: start.toISOString() }),
  };
  return guardOverlap(db, orgId, doctor.id, start, end, undefined, async (trx) => {
    // One statement: the reminders' foreign key is checked at its end, when the appointment is there.
    let q = trx.queryBuilder().with('a', trx('appointments').insert(row).returning('*')).with('e', trx('events').insert(event));
    if (reminders.length) q = q.with('r', trx('reminders').insert(reminders));
    const [inserted] = (await q.select('*').from('a')) as Record<string, unknown>[];
    return Appointment.fromDatabaseJson(inserted!);
  });
}

function hoursBefore(appointment: Appointment, now: Date): number {
  return (new Date(appointment.start_time).getTime() - now.getTime()) / 3600_000;
}

function invalidTransition(action: string, status: AppointmentStatus): AppError {
  const what = status === 'no_show' ? 'a no-show' : `a ${status}`;
  return conflict(`Cannot ${action} ${what} appointment`, { current_status: status, reason: 'invalid_transition' });
}

/**
 * Moves an appointment from one of `from` to `to` with one conditional
 * UPDATE, so two concurrent changes cannot both win.
 */
async function transition(db: Db, scope: OrgScope, id: string, action: string, from: readonly AppointmentStatus[], patch: Partial<Appointment>, event: string, data: Record<string, unknown> = {}, now = new Date()): Promise<Appointment> {
  return (db as Knex).transaction(async (trx) => {
    const [row] = await Appointment.query(trx)
      .where({ id, organization_id: scope.organizationId })
      .whereIn('status', from as AppointmentStatus[])
      .patch({ ...patch, updated_at: new Date() })
      .returning('*');
    if (!row) throw invalidTransition(action, (await getAppointment(trx, scope, id)).status);
    await recordEvent(trx, scope.organizationId, event, id, { appointment_id: id, doctor_id: row.doctor_id, patient_id: row.patient_id, ...data }, newId('event'));
    // Cancelled, completed or no-show: its pending reminders are cancelled with it.
    await syncRemindersForAppointment(trx, scope, id, { now });
    return row;
  });
}

/** Cancels; a patient may do so only outside the clinic's cancellation window (default 24 h). */
export async function cancelAppointment(db: Db, scope: OrgScope, id: string, input: CancelAppointmentInput): Promise<Appointment> {
  const now = input.now ?? new Date();
  const current = await getAppointment(db, scope, id);
  if (!ACTIVE_STATUSES.includes(current.status)) {
    throw current.status === 'cancelled'
      ? conflict('The appointment is already cancelled', { current_status: current.status, reason: 'invalid_transition' })
      : invalidTransition('cancel', current.status);
  }
  if (input.actor === 'patient') {
    const windowHours = orgSettings(await getOrganization(db, scope.organizationId)).cancellation_window_hours;
    if (hoursBefore(current, now) < windowHours) {
      throw unprocessable(`Appointments can only be cancelled by the patient at least ${windowHours} hours before they start; please contact the clinic`, {
        reason: 'cancellation_window', window_hours: windowHours,
      });
    }
  }
  return transition(db, scope, id, 'cancel', ACTIVE_STATUSES, {
    status: 'cancelled', cancelled_at: now, cancellation_reason: input.reason ?? null, cancelled_by: input.cancelledBy ?? input.actor,
  }, 'appointment.cancelled', {
    reason: input.reason ?? null, actor: input.actor, notify_patient: input.notifyPatient ?? true,
  }, now);
}

/**
 * Moves an appointment to a new time (and optionally doctor or duration) in
 * one UPDATE of the same row: the new range is held before the old one is
 * released, and a taken slot leaves the appointment as it was (409).
 */
export async function rescheduleAppointment(db: Db, scope: OrgScope, id: string, input: RescheduleAppointmentInput): Promise<Appointment> {
  const orgId = scope.organizationId;
  const now = input.now ?? new Date();
  const current = await getAppointment(db, scope, id);
  if (!ACTIVE_STATUSES.includes(current.status)) throw invalidTransition('reschedule', current.status);
  if (input.actor === 'patient') {
    const windowHours = orgSettings(await getOrganization(db, orgId)).reschedule_window_hours;
    if (hoursBefore(current, now) < windowHours) {
      throw unprocessable(`Appointments can only be rescheduled by the patient at least ${windowHours} hours before they start; please contact the clinic`, {
        reason: 'reschedule_window', window_hours: windowHours,
      });
    }
  }
  const duration = input.durationMinutes ?? current.duration_minutes;
  checkDuration(duration);
  const start = parseStart(input.startTime, now);
  const end = new Date(start.getTime() + duration * 60_000);
  const doctorId = input.doctorId ?? current.doctor_id;
  const doctor = await bookableDoctor(db, orgId, doctorId);
  assertWithinHours(doctor, start, end);
  return guardOverlap(db, orgId, doctor.id, start, end, id, async (trx) => {
    const [row] = await Appointment.query(trx)
      .where({ id, organization_id: orgId })
      .whereIn('status', ACTIVE_STATUSES as AppointmentStatus[])
      .patch({
        doctor_id: doctor.id, start_time: start, end_time: end, duration_minutes: duration,
        ...(doctor.id !== current.doctor_id && current.location === null ? { location: doctor.location } : {}),
        rescheduled_from: new Date(current.start_time).toISOString(), updated_at: new Date(),
      } as Partial<Appointment>)
      .returning('*');
    if (!row) throw invalidTransition('reschedule', (await getAppointment(trx, scope, id)).status);
    await recordEvent(trx, orgId, 'appointment.updated', id, {
      appointment_id: id, patient_id: row.patient_id, doctor_id: doctor.id, rescheduled: true, actor: input.actor,
      start_time: start.toISOString(), previous_start_time: new Date(current.start_time).toISOString(), previous_doctor_id: current.doctor_id,
    }, newId('event'));
    await syncRemindersForAppointment(trx, scope, id, { now });
    return row;
  });
}

/** Scheduled -> confirmed (the patient said yes); confirming a confirmed one changes nothing. */
export async function confirmAppointment(db: Db, scope: OrgScope, id: string): Promise<Appointment> {
  const current = await getAppointment(db, scope, id);
  if (current.status === 'confirmed') return current;
  return transition(db, scope, id, 'confirm', ['scheduled'], { status: 'confirmed', confirmed_at: new Date() }, 'appointment.confirmed');
}

async function afterStart(db: Db, scope: OrgScope, id: string, now: Date, action: string): Promise<void> {
  const current = await getAppointment(db, scope, id);
  if (!ACTIVE_STATUSES.includes(current.status)) throw invalidTransition(action, current.status);
  if (new Date(current.start_time).getTime() > now.getTime()) {
    throw unprocessable(`Cannot ${action} an appointment before its start time (${new Date(current.start_time).toISOString()})`, { reason: 'not_started' });
  }
}

/** Scheduled/confirmed -> completed, once the start time has passed. */
export async function completeAppointment(db: Db, scope: OrgScope, id: string, input: { now?: Date } = {}): Promise<Appointment> {
  const now = input.now ?? new Date();
  await afterStart(db, scope, id, now, 'complete');
  return transition(db, scope, id, 'complete', ACTIVE_STATUSES, { status: 'completed', completed_at: now }, 'appointment.completed');
}

/** Scheduled/confirmed -> no_show, once the start time has passed. */
export async function markNoShow(db: Db, scope: OrgScope, id: string, input: { now?: Date } = {}): Promise<Appointment> {
  const now = input.now ?? new Date();
  await afterStart(db, scope, id, now, 'mark as no-show');
  return transition(db, scope, id, 'mark as no-show', ACTIVE_STATUSES, { status: 'no_show', no_show_at: now }, 'appointment.no_show');
}

/** Edits that do not move the appointment: type, reason, notes, location. */
export async function updateAppointmentDetails(db: Db, scope: OrgScope, id: string, input: AppointmentDetailsInput): Promise<Appointment> {
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) patch[k] = v;
  const current = await getAppointment(db, scope, id);
  if (!Object.keys(patch).length) return current;
  return transition(db, scope, id, 'update', [current.status], patch as Partial<Appointment>, 'appointment.updated', { fields: Object.keys(patch) });
}
