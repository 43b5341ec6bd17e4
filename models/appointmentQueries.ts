/**
 * Appointment records and the reads over them: the list behind GET
 * /appointments (one count + one page query joined to names, on the
 * (organization_id, doctor_id, start_time) index), the detail, and a
 * patient's upcoming appointments for the conversation engine.
 */
import type { Knex } from 'knex';
import { BaseModel, type Db, type OrgScope } from './base.js';
import { notFound } from '../lib/errors.js';
import { addDays } from './workingHours.js';
import { listAppointmentReminders } from './reminders.js';
import { openColumns, sealedColumnsOf } from './encryption.js';

export const APPOINTMENT_STATUSES = ['scheduled', 'confirmed', 'completed', 'cancelled', 'no_show'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];
/** Statuses that hold the doctor's time (the exclusion constraint's WHERE). */
export const ACTIVE_STATUSES: readonly AppointmentStatus[] = ['scheduled', 'confirmed'];
export const DURATIONS = [15, 30, 45, 60] as const;

export interface AppointmentRow {
  id: string;
  organization_id: string;
  patient_id: string;
  doctor_id: string;
  start_time: Date;
  end_time: Date;
  duration_minutes: number;
  type: string;
  status: AppointmentStatus;
  reason: string | null;
  notes: string | null;
  location: string | null;
  source: string;
  created_by: string | null;
  cancellation_reason: string | null;
  cancelled_by: string | null;
  cancelled_at: Date | null;
  confirmed_at: Date | null;
  completed_at: Date | null;
  no_show_at: Date | null;
  /** After a reschedule: the start time it had before (ISO). */
  rescheduled_from: string | null;
  created_at: Date;
  updated_at: Date;
}

/** An appointment with the names the API and the bot show next to it. */
export interface AppointmentWithNames extends AppointmentRow {
  patient_name: string;
  patient_phone: string | null;
  patient_preferred_language: string;
  doctor_name: string;
  doctor_specialization: string;
  /** Filled by getAppointmentDetail: the appointment's reminders (planned or sent). */
  reminders?: { channel: string | null; time: Date; status: string }[];
}

export class Appointment extends BaseModel implements AppointmentRow {
  static override tableName = 'appointments';
  id!: string;
  organization_id!: string;
  patient_id!: string;
  doctor_id!: string;
  start_time!: Date;
  end_time!: Date;
  duration_minutes!: number;
  type!: string;
  status!: AppointmentStatus;
  reason!: string | null;
  notes!: string | null;
  location!: string | null;
  source!: string;
  created_by!: string | null;
  cancellation_reason!: string | null;
  cancelled_by!: string | null;
  cancelled_at!: Date | null;
  confirmed_at!: Date | null;
  completed_at!: Date | null;
  no_show_at!: Date | null;
  rescheduled_from!: string | null;
  created_at!: Date;
  updated_at!: Date;
  /** Set by listUpcomingAppointments. */
  doctor_name?: string;
  doctor_specialization?: string;

  /** The free-text reason and notes are stored sealed (models/encryption.ts). */
  static override sealedColumns = sealedColumnsOf('appointments');
}

/** A bound of a date filter: a calendar date (read in the organization's zone) or an instant. */
export type DateBound = { date: string } | { instant: Date };

export interface ListAppointmentsInput {
  page: number;
  limit: number;
  patientId?: string;
  doctorId?: string;
  statuses?: AppointmentStatus[];
  /** Inclusive: from the start of this date, or from this instant. */
  from?: DateBound;
  /** Inclusive: to the end of this date, or up to this instant. */
  to?: DateBound;
  type?: string;
  source?: string;
  sort?: ['start_time' | 'created_at' | 'updated_at', 'asc' | 'desc'];
}

const ORG_ZONE = '(SELECT time_zone FROM organizations WHERE id = ?)';

function applyFilters(q: Knex.QueryBuilder, orgId: string, input: Omit<ListAppointmentsInput, 'page' | 'limit' | 'sort'>): Knex.QueryBuilder {
  q.where('a.organization_id', orgId);
  if (input.doctorId) q.where('a.doctor_id', input.doctorId);
  if (input.patientId) q.where('a.patient_id', input.patientId);
  if (input.statuses?.length) q.whereIn('a.status', input.statuses);
  if (input.type) q.where('a.type', input.type);
  if (input.source) q.where('a.source', input.source);
  if (input.from) {
    if ('instant' in input.from) q.where('a.start_time', '>=', input.from.instant);
    else q.whereRaw(`a.start_time >= (?::timestamp AT TIME ZONE ${ORG_ZONE})`, [input.from.date, orgId]);
  }
  if (input.to) {
    if ('instant' in input.to) q.where('a.start_time', '<=', input.to.instant);
    else q.whereRaw(`a.start_time < (?::timestamp AT TIME ZONE ${ORG_ZONE})`, [addDays(input.to.date, 1), orgId]);
  }
  return q;
}

function withNames(knex: Knex, q: Knex.QueryBuilder): Knex.QueryBuilder {
  return q
    .join('patients as p', 'p.id', 'a.patient_id')
    .join('doctors as d', 'd.id', 'a.doctor_id')
    .select('a.*', 'p.name as patient_name', 'p.phone as patient_phone', 'p.preferred_language as patient_preferred_language',
      'd.name as doctor_name', 'd.specialization as doctor_specialization');
}

/** One count query and one page query; no per-row lookups. */
export async function listAppointments(db: Db, scope: OrgScope, input: ListAppointmentsInput): Promise<{ rows: AppointmentWithNames[]; total: number }> {
  const knex = db as Knex;
  const [sortField, dir] = input.sort ?? ['start_time', 'asc'];
  const countQ = applyFilters(knex('appointments as a'), scope.organizationId, input).count('* as count');
  const pageQ = withNames(knex, applyFilters(knex('appointments as a'), scope.organizationId, input))
    .orderBy(`a.${sortField}`, dir).orderBy('a.id', dir)
    .limit(input.limit).offset((input.page - 1) * input.limit);
  // One round trip: the total rides along as an uncorrelated subquery (evaluated once).
  // Only a page past the end, which has no row to carry it, needs the count on its own.
  const rows = (await pageQ.select(knex.raw('(?) as total_count', [countQ]))) as Array<AppointmentWithNames & { total_count?: number }>;
  const total = rows.length ? Number(rows[0].total_count) : Number(((await countQ) as Array<{ count: number }>)[0].count);
  for (const r of rows) {
    delete r.total_count;
    openColumns(db, r, Appointment.sealedColumns);
  }
  return { rows, total };
}

/** The appointment with names; `onlyDoctorId` hides other doctors' appointments (a provider's view) as 404. */
export async function getAppointmentDetail(db: Db, scope: OrgScope, id: string, opts: { onlyDoctorId?: string | null } = {}): Promise<AppointmentWithNames> {
  const knex = db as Knex;
  const q = withNames(knex, knex('appointments as a').where('a.organization_id', scope.organizationId).where('a.id', id));
  if (opts.onlyDoctorId) q.where('a.doctor_id', opts.onlyDoctorId);
  const row = (await q.first()) as AppointmentWithNames | undefined;
  if (!row) throw notFound('Appointment');
  openColumns(db, row, Appointment.sealedColumns);
  row.reminders = await listAppointmentReminders(db, row.id);
  return row;
}

export async function getAppointment(db: Db, scope: OrgScope, id: string): Promise<Appointment> {
  const a = await Appointment.query(db).findOne({ id, organization_id: scope.organizationId });
  if (!a) throw notFound('Appointment');
  return a;
}

/** A patient's scheduled/confirmed appointments starting after `now`, soonest first, with the doctor's name. */
export async function listUpcomingAppointments(db: Db, scope: OrgScope, patientId: string, now: Date): Promise<Appointment[]> {
  return Appointment.query(db)
    .select('appointments.*', 'd.name as doctor_name', 'd.specialization as doctor_specialization')
    .join('doctors as d', 'd.id', 'appointments.doctor_id')
    .where('appointments.organization_id', scope.organizationId)
    .where('appointments.patient_id', patientId)
    .whereIn('appointments.status', ACTIVE_STATUSES as AppointmentStatus[])
    .where('appointments.start_time', '>', now)
    .orderBy('appointments.start_time', 'asc');
}

/** The longest appointment: one overlapping [s, e) starts after s minus this (the CHECKs of migrations 001 and 014). */
export const MAX_DURATION_MINUTES = Math.max(...DURATIONS);

/**
 * An active appointment overlapping [start, end) (SQL expressions such as
 * column references; not placeholders, since start appears twice), as the exclusion
 * constraint appointments_no_overlap states it, put so that the btree index
 * appointments_active_by_doctor (migration 018) reads only the appointments of
 * that stretch of time: one overlapping [start, end) starts before end and,
 * lasting at most MAX_DURATION_MINUTES, after start minus that. The GiST index
 * answers `&&` too, at about five times the cost per doctor.
 */
export function activeOverlapSql(start: string, end: string, alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `${a}status IN ('${ACTIVE_STATUSES.join("', '")}') AND ${a}start_time > ${start} - interval '${MAX_DURATION_MINUTES} minutes'
    AND ${a}start_time < ${end} AND ${a}end_time > ${start}`;
}

/**
 * The active appointment of a doctor overlapping [start, end) other than the
 * one excluded, soonest first: SQL for a subquery or a CTE, with the bindings
 * of overlappingBindings.
 */
export const OVERLAPPING_SQL = `SELECT a.id FROM appointments a, (SELECT ?::timestamptz AS s, ?::timestamptz AS e) r
  WHERE a.organization_id = ? AND a.doctor_id = ? AND ${activeOverlapSql('r.s', 'r.e', 'a')} AND a.id <> ?
  ORDER BY a.start_time LIMIT 1`;

export const overlappingBindings = (orgId: string, doctorId: string, start: Date, end: Date, exceptId?: string): Knex.RawBinding[] =>
  [start, end, orgId, doctorId, exceptId ?? ''];

/** The active appointment of a doctor overlapping [start, end), other than `exceptId`. */
export async function findOverlapping(db: Db, orgId: string, doctorId: string, start: Date, end: Date, exceptId?: string): Promise<string | null> {
  const { rows } = (await (db as Knex).raw(OVERLAPPING_SQL, overlappingBindings(orgId, doctorId, start, end, exceptId))) as { rows: { id: string }[] };
  return rows[0]?.id ?? null;
}
