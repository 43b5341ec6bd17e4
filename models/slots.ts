/**
 * Free appointment slots and day schedules. Slots step by the requested
 * duration from the start of each working window, in real time, so a day
 * with a daylight-saving change has exactly the hours that really exist;
 * booked time and the past are removed. One statement per search.
 */
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { escapeLike, type Db, type OrgScope } from './base.js';
import { AppError } from '../lib/errors.js';
import { Doctor, doctorsQuery } from './doctors.js';
import { activeOverlapSql, ACTIVE_STATUSES, MAX_DURATION_MINUTES, type AppointmentStatus } from './appointmentQueries.js';
import { addDays, dayWindows, isValidZone, localHour, localTime, rangesOn, type Window, type WorkingHours } from './workingHours.js';

export type PartOfDay = 'morning' | 'afternoon' | 'evening';

export interface AvailableSlot { doctorId: string; doctorName: string; startTime: Date; endTime: Date; localTime: string }

export interface FindAvailableSlotsInput {
  doctorId?: string;
  specialization?: string;
  /** YYYY-MM-DD, a calendar date in the doctor's zone (the organization's unless the doctor has its own). */
  date: string;
  durationMinutes: number;
  partOfDay?: PartOfDay;
  now: Date;
}

/** Pure: the free slots of one day, given its working windows and the booked intervals. */
export function computeSlots(args: { windows: Window[]; booked: Window[]; durationMinutes: number; now: Date }): Window[] {
  const step = args.durationMinutes * 60_000;
  const booked = [...args.booked].sort((a, b) => a.start - b.start);
  const out: Window[] = [];
  for (const w of args.windows) {
    for (let start = w.start; start + step <= w.end; start += step) {
      const end = start + step;
      if (start < args.now.getTime()) continue;
      if (booked.some((b) => b.start < end && b.end > start)) continue;
      out.push({ start, end });
    }
  }
  return out;
}

/** Morning before 12:00, afternoon 12:00-17:00, evening from 17:00, local time. */
export function partOfDayOf(instant: number, zone: string): PartOfDay {
  const hour = isValidZone(zone) ? localHour(instant, zone) : DateTime.fromMillis(instant, { zone }).hour;
  return hour < 12 ? 'morning' : hour < 17 ? 'afternoon' : 'evening';
}

/**
 * The booked intervals of the appointments `a` a slot search reads, as one JSON
 * array of [start, end] in epoch milliseconds (parsed natively, unlike arrays
 * or timestamps); bookedWindows reads it back.
 */
const BOOKED_AS_JSON = `json_agg(json_build_array(extract(epoch FROM a.start_time) * 1000, extract(epoch FROM a.end_time) * 1000))`;

const bookedWindows = (booked: Array<[number, number]> | null | undefined): Window[] => (booked ?? []).map(([start, end]) => ({ start, end }));

/** A doctor as the slot search reads it, with its booked intervals of the local day. */
type DoctorWithBooked = Record<string, unknown> & { booked: Array<[number, number]> | null };

/**
 * The matching doctors and, for each, its active appointments overlapping the
 * requested local day (bounds computed in SQL in the doctor's zone), in ONE
 * statement: a slot search is one round trip. Working windows always lie
 * inside the local day, so the day is a safe superset of what they need.
 */
export function slotSearchStatement(orgId: string, input: Pick<FindAvailableSlotsInput, 'doctorId' | 'specialization' | 'date'>): { sql: string; bindings: Knex.Value[] } {
  const byDoctor = input.doctorId !== undefined;
  return {
    sql: `WITH d AS (
       SELECT doctors.*, coalesce(doctors.time_zone, o.time_zone) AS effective_time_zone,
         ?::date::timestamp AT TIME ZONE coalesce(doctors.time_zone, o.time_zone) AS day_start,
         (?::date + 1)::timestamp AT TIME ZONE coalesce(doctors.time_zone, o.time_zone) AS day_end
       FROM doctors JOIN organizations o ON o.id = doctors.organization_id
       WHERE doctors.organization_id = ? AND doctors.deleted_at IS NULL
         AND ${byDoctor ? 'doctors.id = ?' : "doctors.specialization ILIKE ? AND doctors.active"}
     )
     SELECT d.*, b.booked FROM d LEFT JOIN LATERAL (
       SELECT ${BOOKED_AS_JSON} AS booked
       FROM appointments a
       WHERE d.active AND a.organization_id = d.organization_id AND a.doctor_id = d.id
         AND ${activeOverlapSql('d.day_start', 'd.day_end', 'a')}
     ) b ON true
     ORDER BY d.name, d.id`,
    bindings: [input.date, input.date, orgId, byDoctor ? input.doctorId! : escapeLike(input.specialization!)],
  };
}

async function doctorsWithBookedDay(db: Db, orgId: string, input: FindAvailableSlotsInput): Promise<Array<{ doctor: Doctor; booked: Window[] }>> {
  const statement = slotSearchStatement(orgId, input);
  const result = (await (db as Knex).raw(statement.sql, statement.bindings)) as { rows: DoctorWithBooked[] };
  return result.rows.map(({ booked, day_start: _start, day_end: _end, ...row }) => ({
    doctor: Doctor.fromDatabaseJson(row),
    booked: bookedWindows(booked),
  }));
}

/** Each matching active doctor with its free slots on the date (a doctor with none still appears). */
export async function availableSlotsByDoctor(db: Db, scope: OrgScope, input: FindAvailableSlotsInput): Promise<Array<{ doctor: Doctor; slots: AvailableSlot[] }>> {
  if (!input.doctorId && !input.specialization) {
    throw new AppError('VALIDATION_ERROR', 'doctor_id or specialization is required', { fields: [{ field: 'doctor_id', message: 'doctor_id or specialization is required' }] });
  }
  const found = await doctorsWithBookedDay(db, scope.organizationId, input);
  if (input.doctorId && !found.length) throw new AppError('NOT_FOUND', 'Doctor not found', { resource: 'doctor', field: 'doctor_id', id: input.doctorId });
  return found.map(({ doctor, booked }) => {
    const zone = doctor.effective_time_zone;
    const windows = doctor.active ? dayWindows(doctor.working_hours, input.date, zone) : [];
    return { doctor, slots: freeSlotsIn({ id: doctor.id, name: doctor.name, timeZone: zone }, windows, booked, input) };
  });
}

/** A bookable doctor as a caller already holds it (the engine's clinic cache): all a slot search needs but its appointments. */
export interface SlotDoctor { id: string; name: string; workingHours: WorkingHours; timeZone: string }

/**
 * The free slots on a local date of doctors the caller already holds (the
 * engine's clinic cache: active, not deleted), without reading them again: one
 * statement reads the active appointments of all of them that overlap their
 * working windows of the day.
 */
export async function freeSlotsOfDoctors(db: Db, scope: OrgScope, doctors: readonly SlotDoctor[], input: Omit<FindAvailableSlotsInput, 'doctorId' | 'specialization'>): Promise<AvailableSlot[]> {
  const working = doctors
    .map((doctor) => ({ doctor, windows: dayWindows(doctor.workingHours, input.date, doctor.timeZone) }))
    .filter((d) => d.windows.length > 0);
  if (working.length === 0) return [];
  const from = Math.min(...working.flatMap((d) => d.windows.map((w) => w.start)));
  const to = Math.max(...working.flatMap((d) => d.windows.map((w) => w.end)));
  const statement = bookedOfDoctorsStatement(scope.organizationId, working.map((d) => d.doctor.id), new Date(from), new Date(to));
  const result = (await (db as Knex).raw(statement.sql, statement.bindings)) as { rows: Array<{ doctor_id: string; booked: Array<[number, number]> }> };
  const booked = new Map(result.rows.map((r) => [r.doctor_id, bookedWindows(r.booked)]));
  return working.flatMap(({ doctor, windows }) => freeSlotsIn(doctor, windows, booked.get(doctor.id) ?? [], input));
}

/** The active appointments of the doctors that overlap [from, to), as epoch milliseconds per doctor, in one statement. */
export function bookedOfDoctorsStatement(orgId: string, doctorIds: readonly string[], from: Date, to: Date): { sql: string; bindings: Knex.Value[] } {
  return {
    // The bounds as columns (activeOverlapSql: not placeholders).
    sql: `SELECT a.doctor_id, ${BOOKED_AS_JSON} AS booked
     FROM appointments a, (SELECT ?::timestamptz AS s, ?::timestamptz AS e) r
     WHERE a.organization_id = ? AND a.doctor_id = ANY(?::text[]) AND ${activeOverlapSql('r.s', 'r.e', 'a')}
     GROUP BY a.doctor_id`,
    bindings: [from, to, orgId, [...doctorIds]],
  };
}

/** One doctor's free slots in its working windows of the day, as offered (the part of the day asked for, local times). */
function freeSlotsIn(doctor: { id: string; name: string; timeZone: string }, windows: Window[], booked: Window[], input: Pick<FindAvailableSlotsInput, 'durationMinutes' | 'partOfDay' | 'now'>): AvailableSlot[] {
  const zone = doctor.timeZone;
  return computeSlots({ windows, booked, durationMinutes: input.durationMinutes, now: input.now })
    .filter((s) => !input.partOfDay || partOfDayOf(s.start, zone) === input.partOfDay)
    .map((s) => ({ doctorId: doctor.id, doctorName: doctor.name, startTime: new Date(s.start), endTime: new Date(s.end), localTime: localTime(s.start, zone) }));
}

/**
 * One slot per distinct start time, soonest first: at each time one of the
 * doctors free then, the same index (`seed` modulo how many are free) at every
 * time. A patient choosing by specialty sees different times, not one time
 * once per doctor; a conversation keeps to one doctor where it can; and
 * patients booking at once, each with their own seed, are spread over the
 * doctors instead of all reaching for the first one's 08:00.
 */
export function distinctTimes(slots: readonly AvailableSlot[], seed: number): AvailableSlot[] {
  const rank = doctorRanks(slots);
  const byTime = new Map<number, AvailableSlot[]>();
  for (const s of slots) {
    const at = s.startTime.getTime();
    const free = byTime.get(at);
    if (free) free.push(s); else byTime.set(at, [s]);
  }
  return [...byTime.keys()].sort((a, b) => a - b).map((at) => {
    const free = byTime.get(at)!.sort((a, b) => rank.get(a.doctorId)! - rank.get(b.doctorId)!);
    return free[Math.abs(seed) % free.length]!;
  });
}

/** Every doctor's slots in one list, soonest first, then by doctor name. */
export function mergeSlots(perDoctor: Array<{ slots: AvailableSlot[] }>): AvailableSlot[] {
  const slots = perDoctor.flatMap((d) => d.slots);
  const rank = doctorRanks(slots);
  return slots.sort((a, b) => a.startTime.getTime() - b.startTime.getTime() || rank.get(a.doctorId)! - rank.get(b.doctorId)!);
}

/**
 * Each doctor's place by name (then id), compared once per doctor: a day of a
 * specialty has hundreds of slots but a handful of doctors, and localeCompare
 * is the costly part of sorting them.
 */
function doctorRanks(slots: readonly AvailableSlot[]): Map<string, number> {
  const names = new Map<string, string>();
  for (const s of slots) names.set(s.doctorId, s.doctorName);
  const ids = [...names.keys()].sort((a, b) => names.get(a)!.localeCompare(names.get(b)!) || (a < b ? -1 : a > b ? 1 : 0));
  return new Map(ids.map((id, i) => [id, i]));
}

export interface ScheduleAppointment { id: string; patientId: string; patientName: string; startTime: Date; endTime: Date; localStart: string; localEnd: string; status: AppointmentStatus; type: string }
export interface ScheduleDay { date: string; workingHours: string[]; appointments: ScheduleAppointment[]; availableSlots: number }

/**
 * A doctor's schedule for `days` consecutive local dates from `date` (default
 * today in the doctor's zone): its
 * appointments (all but cancelled ones), working hours and how many free
 * slots of `durationMinutes` remain (from `now` on).
 */
export async function getDoctorSchedule(db: Db, scope: OrgScope, doctorId: string, input: { date?: string; days: number; durationMinutes: number; now: Date }): Promise<{ doctor: Doctor; zone: string; days: ScheduleDay[] }> {
  const doctor = await doctorsQuery(db, scope.organizationId).where('doctors.id', doctorId).first();
  if (!doctor) throw new AppError('NOT_FOUND', 'Doctor not found', { resource: 'doctor', id: doctorId });
  const zone = doctor.effective_time_zone;
  const first = input.date ?? (DateTime.fromJSDate(input.now, { zone }).toISODate() as string);
  const dates = Array.from({ length: input.days }, (_, i) => addDays(first, i));
  const from = DateTime.fromISO(dates[0], { zone }).startOf('day').toMillis();
  const to = DateTime.fromISO(addDays(dates[dates.length - 1], 1), { zone }).startOf('day').toMillis();
  const rows = (await (db as Knex)('appointments as a')
    .join('patients as p', 'p.id', 'a.patient_id')
    .select('a.id', 'a.patient_id', 'p.name as patient_name', 'a.start_time', 'a.end_time', 'a.status', 'a.type')
    .where('a.organization_id', scope.organizationId)
    .where('a.doctor_id', doctor.id)
    .whereNot('a.status', 'cancelled')
    .where('a.start_time', '<', new Date(to))
    // A lower bound on start_time keeps the index scan to the range, instead of every earlier appointment of the doctor.
    .where('a.start_time', '>', new Date(from - MAX_DURATION_MINUTES * 60_000))
    .where('a.end_time', '>', new Date(from))
    .orderBy('a.start_time')) as Array<{ id: string; patient_id: string; patient_name: string; start_time: Date; end_time: Date; status: AppointmentStatus; type: string }>;
  const appointments: ScheduleAppointment[] = rows.map((r) => ({
    id: r.id, patientId: r.patient_id, patientName: r.patient_name, startTime: new Date(r.start_time), endTime: new Date(r.end_time),
    localStart: localTime(r.start_time, zone), localEnd: localTime(r.end_time, zone), status: r.status, type: r.type,
  }));
  const booked = appointments.filter((a) => ACTIVE_STATUSES.includes(a.status)).map((a) => ({ start: a.startTime.getTime(), end: a.endTime.getTime() }));
  const days = dates.map((date) => {
    const dayStart = DateTime.fromISO(date, { zone }).startOf('day').toMillis();
    const dayEnd = DateTime.fromISO(addDays(date, 1), { zone }).startOf('day').toMillis();
    const windows = doctor.active ? dayWindows(doctor.working_hours as WorkingHours, date, zone) : [];
    return {
      date,
      workingHours: rangesOn(doctor.working_hours, date),
      appointments: appointments.filter((a) => a.startTime.getTime() >= dayStart && a.startTime.getTime() < dayEnd),
      availableSlots: computeSlots({ windows, booked, durationMinutes: input.durationMinutes, now: input.now }).length,
    };
  });
  return { doctor, zone, days };
}
