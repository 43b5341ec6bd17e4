/** Patients: one per E.164 phone in a clinic, soft-deleted, with their language and consent to messages. */
import type { Knex } from 'knex';
import { BaseModel, escapeLike, recordEvent, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound } from '../lib/errors.js';
import { sealColumns, sealedColumnsOf } from './encryption.js';

export const PATIENT_LANGUAGES = ['en', 'es', 'ca', 'hi'] as const;
export type PatientLanguage = (typeof PATIENT_LANGUAGES)[number];

/**
 * How fine a patient's last_activity_at is: an inbound message moves it only
 * when it is at least this much later, so a chat does not rewrite the
 * patient's row on every message (one write fewer per chat turn).
 */
export const ACTIVITY_RESOLUTION = '1 minute';

export class Patient extends BaseModel {
  static override tableName = 'patients';
  static override jsonAttributes = ['emergency_contact', 'metadata'];
  id!: string;
  organization_id!: string;
  name!: string;
  phone!: string | null;
  email!: string | null;
  date_of_birth!: string | null;
  gender!: string | null;
  address!: string | null;
  emergency_contact!: { name?: string; phone?: string; relationship?: string } | null;
  preferred_language!: string;
  status!: 'active' | 'inactive';
  notes!: string | null;
  metadata!: Record<string, unknown>;
  opted_out_at!: Date | null;
  last_activity_at!: Date;
  deleted_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;

  /** Staff notes about the patient are stored sealed (models/encryption.ts). */
  static override sealedColumns = sealedColumnsOf('patients');
}

export interface PatientInput {
  name?: string;
  phone?: string | null;
  email?: string | null;
  date_of_birth?: string | null;
  gender?: string | null;
  address?: string | null;
  emergency_contact?: Patient['emergency_contact'];
  preferred_language?: string;
  status?: 'active' | 'inactive';
  notes?: string | null;
  metadata?: Record<string, unknown>;
}

export interface ListPatientsInput {
  page: number;
  limit: number;
  search?: string;
  status?: string;
  language?: string;
  sort: [string, 'asc' | 'desc'];
}

const live = (db: Db, orgId: string) => Patient.query(db).where({ organization_id: orgId }).whereNull('deleted_at');

export async function listPatients(db: Db, scope: OrgScope, input: ListPatientsInput): Promise<{ rows: Patient[]; total: number }> {
  const q = live(db, scope.organizationId);
  if (input.status) q.where({ status: input.status });
  if (input.language) q.where({ preferred_language: input.language });
  if (input.search) {
    const term = `%${escapeLike(input.search)}%`;
    const digits = input.search.replace(/[^\d]/g, '');
    q.where((w) => {
      w.where('name', 'ilike', term).orWhere('email', 'ilike', term);
      if (digits.length >= 3) w.orWhere('phone', 'like', `%${digits}%`);
    });
  }
  const [{ count }] = (await q.clone().clearSelect().count('* as count')) as unknown as { count: number }[];
  const rows = await q.orderBy(input.sort[0], input.sort[1]).orderBy('id', input.sort[1]).limit(input.limit).offset((input.page - 1) * input.limit);
  return { rows, total: Number(count) };
}

export async function getPatient(db: Db, scope: OrgScope, id: string): Promise<Patient> {
  const p = await live(db, scope.organizationId).findById(id);
  if (!p) throw notFound('Patient');
  return p;
}

export async function findPatientByPhone(db: Db, scope: OrgScope, phone: string): Promise<Patient | undefined> {
  return live(db, scope.organizationId).where({ phone }).first();
}

async function assertPhoneFree(db: Db, orgId: string, phone: string | null | undefined, exceptId?: string): Promise<void> {
  if (!phone) return;
  const q = live(db, orgId).where({ phone });
  if (exceptId) q.whereNot({ id: exceptId });
  const other = await q.first();
  if (other) throw conflict('A patient with this phone number already exists', { field: 'phone', existing_patient_id: other.id });
}

/**
 * Creates a patient and its patient.created event in one statement. The phone
 * is unique among a clinic's live patients (patients_org_phone_unique): a
 * taken one inserts nothing (ON CONFLICT DO NOTHING, so a caller's
 * transaction stays usable) and answers 409 with the patient who has it.
 */
export async function createPatient(db: Db, scope: OrgScope, input: PatientInput & { name: string }): Promise<Patient> {
  const k = db as Knex;
  const insert = k('patients').insert(sealColumns(db, {
    id: newId('patient'),
    organization_id: scope.organizationId,
    name: input.name,
    phone: input.phone ?? null,
    email: input.email ?? null,
    date_of_birth: input.date_of_birth ?? null,
    gender: input.gender ?? null,
    address: input.address ?? null,
    emergency_contact: input.emergency_contact ? JSON.stringify(input.emergency_contact) : null,
    preferred_language: input.preferred_language ?? 'en',
    status: input.status ?? 'active',
    notes: input.notes ?? null,
    metadata: JSON.stringify(input.metadata ?? {}),
  }, Patient.sealedColumns)).onConflict(k.raw('(organization_id, phone) WHERE deleted_at IS NULL AND phone IS NOT NULL')).ignore().returning('*');
  const [row] = (await k.queryBuilder()
    .with('p', insert)
    .with('e', k.raw(`INSERT INTO events (id, organization_id, event, subject_id, data)
      SELECT ?, organization_id, 'patient.created', id, jsonb_build_object('patient_id', id) FROM p`, [newId('event')]))
    .select('*').from('p')) as Record<string, unknown>[];
  if (row) return Patient.fromRow(db, row);
  const other = await findPatientByPhone(db, scope, input.phone!);
  throw conflict('A patient with this phone number already exists', { field: 'phone', existing_patient_id: other?.id ?? null });
}

export async function updatePatient(db: Db, scope: OrgScope, id: string, input: PatientInput): Promise<Patient> {
  const existing = await getPatient(db, scope, id);
  if (input.phone !== undefined && input.phone !== existing.phone) await assertPhoneFree(db, scope.organizationId, input.phone, id);
  const patch: Partial<Patient> = { updated_at: new Date() };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) (patch as Record<string, unknown>)[k] = v;
  const updated = await existing.$query(db).patchAndFetch(sealColumns(db, patch, Patient.sealedColumns));
  await recordEvent(db, scope.organizationId, 'patient.updated', id, { patient_id: id, fields: Object.keys(input) }, newId('event'));
  return updated;
}

/** Soft delete: history (appointments, conversations) keeps pointing at the row. */
export async function deletePatient(db: Db, scope: OrgScope, id: string): Promise<void> {
  const existing = await getPatient(db, scope, id);
  await existing.$query(db).patch({ deleted_at: new Date(), updated_at: new Date() } as Partial<Patient>);
  await recordEvent(db, scope.organizationId, 'patient.deleted', id, { patient_id: id }, newId('event'));
}

/** Opt-out/opt-in for bot and bulk messages (STOP / START). */
export async function setPatientOptOut(db: Db, scope: OrgScope, id: string, optedOut: boolean): Promise<void> {
  await Patient.query(db).where({ id, organization_id: scope.organizationId }).patch({ opted_out_at: optedOut ? new Date() : null, updated_at: new Date() } as Partial<Patient>);
}
