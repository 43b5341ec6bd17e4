/**
 * Booking, rescheduling, cancelling and the other status changes of an
 * appointment. Each is one domain operation taking the organization scope;
 * each runs in its own transaction (or the caller's), writes its domain event
 * there, and never double-books: bookings and moves of one doctor take the
 * doctor's booking lock and check for an overlap under it (see
 * underBookingLock), and the `appointments_no_overlap` exclusion constraint
 * (23P01) stands behind them.
 */
import type { Knex } from 'knex';
import { recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { AppError, conflict, fieldError, unprocessable } from '../lib/errors.js';
import { getOrganization, Organization } from './organizations.js';
import { orgSettings } from './settings.js';
import { Doctor, doctorsQuery } from './doctors.js';
import { localTime, rangesOn, localDate, weekdayOf, withinWorkingHours } from './workingHours.js';
import {
  Appointment, ACTIVE_STATUSES, DURATIONS, findOverlapping, getAppointment, OVERLAPPING_SQL, overlappingBindings,
  type AppointmentStatus,
} from './appointmentQueries.js';
import { planNewAppointmentReminders, syncRemindersForAppointment } from './reminders.js';
import { openColumns, sealColumns } from './encryption.js';

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

const isTransaction = (db: Db): db is Knex.Transaction => (db as Knex.Transaction).isTransaction === true;

/**
 * Runs `write` holding the doctor's booking lock, in the caller's transaction
 * or in one of its own. `write` checks for an overlapping appointment itself,
 * in a statement after the lock's: its snapshot then includes every booking
 * of the doctor that committed before the lock was granted.
 *
 * The lock makes bookings of one doctor go one at a time, so the second of
 * two for the same time finds the first and answers 409 at once. Without it
 * both insert into the exclusion index, each waits for the other, and
 * PostgreSQL only breaks that after deadlock_timeout (1 s), with both
 * connections held meanwhile: under load the pool ran dry behind them and
 * every chat turn stalled for a second.
 *
 * Everything a booking only reads is read before the lock: the lock is held
 * to the end of the transaction, so each round trip under it is one the
 * doctor's next booking waits for. In the caller's transaction there is no
 * savepoint either: a refusal is decided before anything is written, and the
 * write is one statement. On its own, a write the exclusion constraint still
 * rejects (a change outside this guard) answers 409 with the appointment that won.
 */
async function underBookingLock<T>(db: Db, orgId: string, doctorId: string, start: Date, end: Date, exceptId: string | undefined, write: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const locked = async (trx: Knex.Transaction) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`bookings:${doctorId}`]);
    return write(trx);
  };
  if (isTransaction(db)) return locked(db);
  for (let attempt = 1; ; attempt++) {
    try {
      return await (db as Knex).transaction(locked);
    } catch (err) {
      // A deadlock can still come from elsewhere (a change of the doctor's appointments outside this guard):
      // PostgreSQL aborts one side (40P01); by the retry the winner has committed, and the retry answers 409.
      if (pgCode(err) === PG_DEADLOCK && attempt < 4) {
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
        continue;
      }
      if (pgCode(err) !== PG_EXCLUSION_VIOLATION) throw err;
      throw slotTaken(doctorId, start, await findOverlapping(db, orgId, doctorId, start, end, exceptId));
    }
  }
}

/** What a booking reads before its lock, in one statement: the patient, the doctor, the clinic, the patient's latest channel. */
async function bookingContext(db: Db, orgId: string, patientId: string, doctorId: string): Promise<{
  patient: { id: string; status: string; phone: string | null } | null; doctor: Doctor | null; organization: Organization; latestChannel: string | null;
}> {
  const { rows } = (await (db as Knex).raw(
    `SELECT
       (SELECT json_build_object('id', id, 'status', status, 'phone', phone) FROM patients
        WHERE id = ? AND organization_id = ? AND deleted_at IS NULL) AS patient,
       (SELECT row_to_json(d) FROM ? d) AS doctor,
       (SELECT row_to_json(o) FROM organizations o WHERE o.id = ?) AS organization,
       (SELECT channel FROM conversations WHERE organization_id = ? AND patient_id = ? AND deleted_at IS NULL
        ORDER BY last_message_at DESC, id DESC LIMIT 1) AS latest_channel`,
    [patientId, orgId, doctorsQuery(db, orgId).where('doctors.id', doctorId).toKnexQuery(), orgId, orgId, patientId],
  )) as { rows: { patient: { id: string; status: string; phone: string | null } | null; doctor: Record<string, unknown> | null; organization: Record<string, unknown> | null; latest_channel: string | null }[] };
  const row = rows[0]!;
  if (!row.organization) throw new AppError('NOT_FOUND', 'Organization not found', { resource: 'organization' });
  return {
    patient: row.patient,
    doctor: row.doctor ? Doctor.fromDatabaseJson(row.doctor) : null,
    organization: Organization.fromDatabaseJson(row.organization),
    latestChannel: row.latest_channel,
  };
}

/**
 * Books an appointment; see the rules in shared/API.md "Booking rules". The
 * patient, the doctor and the reminder plan are read first (one statement);
 * under the doctor's lock one statement checks the time is free and inserts
 * the appointment, its event and its reminders.
 */
export async function bookAppointment(db: Db, scope: OrgScope, input: BookAppointmentInput): Promise<Appointment> {
  const orgId = scope.organizationId;
  const now = input.now ?? new Date();
  checkDuration(input.durationMinutes);
  const start = parseStart(input.startTime, now);
  const end = new Date(start.getTime() + input.durationMinutes * 60_000);
  const { patient, doctor, organization, latestChannel } = await bookingContext(db, orgId, input.patientId, input.doctorId);
  if (!patient) throw new AppError('NOT_FOUND', 'Patient not found', { resource: 'patient', field: 'patient_id', id: input.patientId });
  if (patient.status !== 'active') throw unprocessable('The patient is inactive', { field: 'patient_id', reason: 'patient_inactive' });
  if (!doctor) throw new AppError('NOT_FOUND', 'Doctor not found', { resource: 'doctor', field: 'doctor_id', id: input.doctorId });
  if (!doctor.active) throw unprocessable('The doctor is not accepting appointments', { field: 'doctor_id', reason: 'doctor_inactive' });
  assertWithinHours(doctor, start, end);
  const id = newId('appointment');
  const reminders = planNewAppointmentReminders({ organization, appointmentId: id, start, latestChannel, phone: patient.phone, now });
  const row = sealColumns(db, {
    id, organization_id: orgId, patient_id: patient.id, doctor_id: doctor.id, start_time: start, end_time: end,
    duration_minutes: input.durationMinutes, type: input.type ?? 'consultation', status: 'scheduled',
    reason: input.reason ?? null, notes: input.notes ?? null, location: input.location ?? doctor.location,
    source: input.source ?? (input.actor === 'patient' ? 'patient' : 'api'), created_by: input.createdBy ?? null,
  }, Appointment.sealedColumns);
  const eventData = { appointment_id: id, patient_id: patient.id, doctor_id: doctor.id, start_time: start.toISOString() };
  return underBookingLock(db, orgId, doctor.id, start, end, undefined, async (trx) => {
    // The reminders' foreign key is checked at the end of the statement, when the appointment is there.
    const { rows } = (await trx.raw(
      `WITH taken AS (${OVERLAPPING_SQL}),
       a AS (
         INSERT INTO appointments (id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, type, status, reason, notes, location, source, created_by)
         SELECT id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, type, status, reason, notes, location, source, created_by
         FROM json_populate_record(null::appointments, ?::json)
         WHERE NOT EXISTS (SELECT 1 FROM taken)
         RETURNING *
       ), e AS (
         INSERT INTO events (id, organization_id, event, subject_id, data)
         SELECT ?, organization_id, 'appointment.created', id, ?::jsonb FROM a
       ), r AS (
         INSERT INTO reminders (id, organization_id, appointment_id, offset_minutes, due_at, channel, status, created_at, updated_at)
         SELECT p.id, p.organization_id, p.appointment_id, p.offset_minutes, p.due_at, p.channel, p.status, p.created_at, p.updated_at
         FROM json_populate_recordset(null::reminders, ?::json) p WHERE EXISTS (SELECT 1 FROM a)
       )
       SELECT (SELECT id FROM taken) AS taken_id, a.* FROM (SELECT 1) AS one LEFT JOIN a ON true`,
      [...overlappingBindings(orgId, doctor.id, start, end), JSON.stringify(row), newId('event'), JSON.stringify(eventData), JSON.stringify(reminders)],
    )) as { rows: Array<Record<string, unknown> & { taken_id: string | null }> };
    const { taken_id: takenId, ...inserted } = rows[0]!;
    if (!inserted.id) throw slotTaken(doctor.id, start, takenId);
    return Appointment.fromRow(trx, inserted);
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
      .patch(sealColumns(trx, { ...patch, updated_at: new Date() }, Appointment.sealedColumns))
      .returning('*');
    if (!row) throw invalidTransition(action, (await getAppointment(trx, scope, id)).status);
    // A RETURNING is not a find: its sealed columns are opened here.
    openColumns(trx, row, Appointment.sealedColumns);
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
  return underBookingLock(db, orgId, doctor.id, start, end, id, async (trx) => {
    const taken = await findOverlapping(trx, orgId, doctor.id, start, end, id);
    if (taken) throw slotTaken(doctor.id, start, taken);
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
    openColumns(trx, row, Appointment.sealedColumns);
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
