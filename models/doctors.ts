/** Doctors: who can be booked, when (weekly working hours) and in which time zone. Soft-deleted. */
import type { Knex } from 'knex';
import { BaseModel, escapeLike, recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound, validationError } from '../lib/errors.js';
import { validateWorkingHours, isValidZone, type WorkingHours } from './workingHours.js';
import { notifyClinicChanged } from './clinicChanges.js';

export class Doctor extends BaseModel {
  static override tableName = 'doctors';
  static override jsonAttributes = ['working_hours'];
  id!: string;
  organization_id!: string;
  name!: string;
  specialization!: string;
  phone!: string | null;
  email!: string | null;
  working_hours!: WorkingHours;
  /** The doctor's own zone; null means the organization's. */
  time_zone!: string | null;
  location!: string | null;
  active!: boolean;
  deleted_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
  /** Filled by the queries below: the zone its hours are read in (its own or the organization's). */
  effective_time_zone!: string;
}

export interface DoctorInput {
  name?: string;
  specialization?: string;
  phone?: string | null;
  email?: string | null;
  working_hours?: unknown;
  time_zone?: string | null;
  location?: string | null;
  active?: boolean;
}

export interface ListDoctorsInput {
  page: number;
  limit: number;
  specialization?: string;
  available?: boolean;
  search?: string;
  sort: [string, 'asc' | 'desc'];
}

/** Live doctors of an organization, each with the zone its hours are read in. */
export function doctorsQuery(db: Db, orgId: string) {
  return Doctor.query(db)
    .select('doctors.*', Doctor.raw('coalesce(doctors.time_zone, o.time_zone) as effective_time_zone'))
    .join('organizations as o', 'o.id', 'doctors.organization_id')
    .where('doctors.organization_id', orgId)
    .whereNull('doctors.deleted_at');
}

export async function listDoctors(db: Db, scope: OrgScope, input: ListDoctorsInput): Promise<{ rows: Doctor[]; total: number }> {
  const q = doctorsQuery(db, scope.organizationId);
  if (input.specialization) q.where('doctors.specialization', 'ilike', escapeLike(input.specialization));
  if (input.available !== undefined) q.where('doctors.active', input.available);
  if (input.search) {
    const term = `%${escapeLike(input.search)}%`;
    q.where((w) => w.where('doctors.name', 'ilike', term).orWhere('doctors.specialization', 'ilike', term));
  }
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy(`doctors.${input.sort[0]}`, input.sort[1]).orderBy('doctors.id', input.sort[1])
    .limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

export async function getDoctor(db: Db, scope: OrgScope, id: string): Promise<Doctor> {
  const d = await doctorsQuery(db, scope.organizationId).where('doctors.id', id).first();
  if (!d) throw notFound('Doctor');
  return d;
}

function checkFields(input: DoctorInput): { workingHours?: WorkingHours } {
  const errors = [];
  let workingHours: WorkingHours | undefined;
  if (input.working_hours !== undefined) {
    const res = validateWorkingHours(input.working_hours);
    errors.push(...res.errors);
    workingHours = res.value;
  }
  if (input.time_zone && !isValidZone(input.time_zone)) {
    errors.push({ field: 'time_zone', message: 'must be an IANA time zone, e.g. Europe/Madrid' });
  }
  if (errors.length) throw validationError(`Validation failed: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, errors);
  return { workingHours };
}

export async function createDoctor(db: Db, scope: OrgScope, input: DoctorInput & { name: string; specialization: string }): Promise<Doctor> {
  const { workingHours } = checkFields({ ...input, working_hours: input.working_hours ?? {} });
  const id = newId('doctor');
  await Doctor.query(db).insert({
    id,
    organization_id: scope.organizationId,
    name: input.name,
    specialization: input.specialization,
    phone: input.phone ?? null,
    email: input.email ?? null,
    working_hours: workingHours,
    time_zone: input.time_zone ?? null,
    location: input.location ?? null,
    active: input.active ?? true,
  } as Partial<Doctor>);
  await recordEvent(db, scope.organizationId, 'doctor.created', id, { doctor_id: id }, newId('event'));
  await notifyClinicChanged(db, scope.organizationId);
  return getDoctor(db, scope, id);
}

export async function updateDoctor(db: Db, scope: OrgScope, id: string, input: DoctorInput): Promise<Doctor> {
  await getDoctor(db, scope, id);
  const { workingHours } = checkFields(input);
  const patch: Record<string, unknown> = { updated_at: new Date() };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) patch[k] = v;
  if (workingHours) patch.working_hours = workingHours;
  await Doctor.query(db).where({ id, organization_id: scope.organizationId }).patch(patch as Partial<Doctor>);
  await recordEvent(db, scope.organizationId, 'doctor.updated', id, { doctor_id: id, fields: Object.keys(input) }, newId('event'));
  await notifyClinicChanged(db, scope.organizationId);
  return getDoctor(db, scope, id);
}

/**
 * Soft delete. A doctor with future active appointments is kept (409 naming
 * how many) unless `force`, which cancels those appointments in the same
 * transaction (reason "Doctor no longer available", events recorded).
 */
export async function deleteDoctor(db: Db, scope: OrgScope, id: string, opts: { force?: boolean; now: Date; deletedBy?: string }): Promise<{ cancelledAppointments: number }> {
  await getDoctor(db, scope, id);
  const future = (db as Knex)('appointments')
    .where({ organization_id: scope.organizationId, doctor_id: id })
    .whereIn('status', ['scheduled', 'confirmed'])
    .where('start_time', '>', opts.now);
  const ids = (await future.clone().select('id')) as Array<{ id: string }>;
  if (ids.length && !opts.force) {
    throw conflict(`The doctor has ${ids.length} upcoming appointment(s); cancel or move them first, or pass force=true to cancel them`, {
      upcoming_appointments: ids.length,
    });
  }
  const now = new Date();
  if (ids.length) {
    await future.clone().update({
      status: 'cancelled', cancelled_at: now, cancellation_reason: 'Doctor no longer available',
      cancelled_by: opts.deletedBy ?? null, updated_at: now,
    });
    for (const a of ids) {
      await recordEvent(db, scope.organizationId, 'appointment.cancelled', a.id, { appointment_id: a.id, doctor_id: id, reason: 'doctor_deleted' }, newId('event'));
    }
  }
  await Doctor.query(db).where({ id, organization_id: scope.organizationId }).patch({ deleted_at: now, active: false, updated_at: now } as Partial<Doctor>);
  await recordEvent(db, scope.organizationId, 'doctor.deleted', id, { doctor_id: id }, newId('event'));
  await notifyClinicChanged(db, scope.organizationId);
  return { cancelledAppointments: ids.length };
}
