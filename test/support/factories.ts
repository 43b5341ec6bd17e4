/**
 * Factories: each call makes what it needs, parents included, in a fresh
 * organization unless one is given. Passwords are hashed once per run.
 */
import { randomBytes } from 'node:crypto';
import { ApiClient } from './client.js';
import { testService } from './service.js';
import { createOrganization, type Organization } from '../../models/organizations.js';
import { hashPassword, User, type UserRole } from '../../models/users.js';
import { createPatient, type Patient, type PatientInput } from '../../models/patients.js';
import { findOrCreateOpenConversation, type Conversation } from '../../models/conversations.js';
import { storeInboundMessage } from '../../models/messages.js';
import { sealText } from '../../models/encryption.js';
import { createDoctor } from '../../models/doctors.js';
import { newId } from '../../lib/ids.js';
import type { RunningService } from '../../main.js';

export const TEST_PASSWORD = 'correct horse battery';
let passwordHash: Promise<string> | null = null;

const unique = () => randomBytes(5).toString('hex');

export interface TestUser {
  user: User;
  token: string;
  client: ApiClient;
  email: string;
  password: string;
}

export interface TestOrg {
  org: Organization;
  admin: TestUser;
  svc: RunningService;
}

export async function createTestUser(svc: RunningService, orgId: string, role: UserRole, extra: Partial<User> = {}): Promise<TestUser> {
  passwordHash ??= hashPassword(TEST_PASSWORD);
  const email = `${role}-${unique()}@clinic.test`;
  const user = await User.query(svc.deps.db.knex).insertAndFetch({
    id: newId('user'), organization_id: orgId, email, username: `${role}_${unique()}`, password_hash: await passwordHash,
    first_name: 'Test', last_name: role, role, permissions: [], doctor_id: null, is_active: true, ...extra,
  });
  const { token } = await svc.deps.tokens.signAccess({ sub: user.id, org: orgId, role, ver: user.token_version });
  return { user, token, client: new ApiClient(svc.url, token), email, password: TEST_PASSWORD };
}

/** A fresh organization with an admin, on the shared service unless one is given. */
export async function createTestOrg(opts: { timeZone?: string; settings?: Record<string, unknown>; svc?: RunningService } = {}): Promise<TestOrg> {
  const svc = opts.svc ?? (await testService());
  const org = await createOrganization(svc.deps.db.knex, { name: `Clinic ${unique()}`, timeZone: opts.timeZone ?? 'UTC', settings: opts.settings });
  const admin = await createTestUser(svc, org.id, 'admin');
  return { org, admin, svc };
}

let phoneCounter = Math.floor(Math.random() * 1_000_000);
/** A valid, unique Spanish mobile number. */
export function uniquePhone(): string {
  phoneCounter = (phoneCounter + 1) % 10_000_000;
  return `+346${String(10_000_000 + phoneCounter).slice(-8)}`;
}

export async function buildPatient(t: TestOrg, overrides: Partial<PatientInput> = {}): Promise<Patient> {
  return createPatient(t.svc.deps.db.knex, { organizationId: t.org.id }, { name: 'Ana López', phone: uniquePhone(), preferred_language: 'es', ...overrides } as PatientInput & { name: string });
}

export const WEEKDAY_HOURS = (ranges: string[] = ['09:00-13:00', '14:00-18:00'], days = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday']) =>
  Object.fromEntries(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, days.includes(d) ? ranges : []]));

/** Every day of the week, so booking tests do not depend on today's weekday. */
export const ALL_WEEK_HOURS = (ranges: string[] = ['08:00-20:00']) =>
  WEEKDAY_HOURS(ranges, ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);

export interface DoctorRow { id: string; name: string; specialization: string; working_hours: Record<string, string[]> }

export async function buildDoctor(t: TestOrg, overrides: Partial<DoctorRow> & { active?: boolean; time_zone?: string | null; location?: string | null } = {}): Promise<DoctorRow> {
  const { id: _ignored, ...input } = overrides;
  const doctor = await createDoctor(t.svc.deps.db.knex, { organizationId: t.org.id }, {
    name: `Dr. ${unique()}`, specialization: 'General Practice', working_hours: ALL_WEEK_HOURS(), location: 'Room 1', active: true, ...input,
  });
  return { id: doctor.id, name: doctor.name, specialization: doctor.specialization, working_hours: doctor.working_hours };
}

export interface ConversationOverrides {
  channel?: string;
  /** Default: the patient's phone (sms/whatsapp) or a fresh session id. */
  address?: string;
  /** A patient to link; default a new one; null for an anonymous visitor. */
  patient?: Patient | null;
  language?: string | null;
  /** Inbound patient messages to store in it (default 1). */
  inbound?: string[];
}

/** An open conversation built through the domain operations (find-or-create + inbound messages). */
export async function buildConversation(t: TestOrg, overrides: ConversationOverrides = {}): Promise<Conversation> {
  const db = t.svc.deps.db.knex;
  const scope = { organizationId: t.org.id };
  const patient = overrides.patient === undefined ? await buildPatient(t) : overrides.patient;
  const channel = overrides.channel ?? 'sms';
  const address = overrides.address ?? (patient?.phone && (channel === 'sms' || channel === 'whatsapp') ? patient.phone : `sess_${unique()}`);
  const now = new Date();
  const conv = await findOrCreateOpenConversation(db, scope, {
    channel, address, patientId: patient?.id ?? null, language: overrides.language === undefined ? patient?.preferred_language ?? null : overrides.language,
    idleMinutes: 24 * 60, now,
  });
  for (const text of overrides.inbound ?? ['Hola, quisiera una cita']) {
    await storeInboundMessage(db, scope, {
      conversationId: conv.id, patientId: patient?.id ?? null, channel, from: address, text,
      providerMessageId: `in-${unique()}`, receivedAt: new Date(),
    });
  }
  return conv.$query(db);
}

// --- Conversation engine helpers (bot/engine.ts) ---

/** An appointment booked by staff (no patient windows), `startTime` an instant. */
export async function buildAppointment(t: TestOrg, input: { patientId: string; doctorId: string; startTime: Date; durationMinutes?: number; now?: Date }): Promise<{ id: string; start_time: Date; status: string }> {
  const { bookAppointment } = await import('../../models/appointments.js');
  const a = await bookAppointment(t.svc.deps.db.knex, { organizationId: t.org.id }, {
    patientId: input.patientId, doctorId: input.doctorId, startTime: input.startTime, durationMinutes: input.durationMinutes ?? 30,
    actor: 'staff', now: input.now ?? new Date(),
  });
  return { id: a.id, start_time: a.start_time, status: a.status };
}

/** A web chat session as the widget opens it (the session id is the conversation's address). */
export async function buildWebchatSession(t: TestOrg, now: Date = new Date()): Promise<{ sessionId: string; conversationId: string }> {
  const { openWebchatSession } = await import('../../models/webchatSessions.js');
  const opened = await openWebchatSession(t.svc.deps.db.knex, { organizationId: t.org.id, idleMinutes: 24 * 60, now });
  return { sessionId: opened.session.id, conversationId: opened.conversationId };
}

export interface InsertedMessage { content: string; sender?: 'patient' | 'assistant' | 'staff' | 'system'; status?: string }

export interface InsertConversationInput {
  startedAt: Date;
  /** A patient to link; default a new one; null for an anonymous visitor. */
  patient?: Patient | null;
  channel?: string;
  language?: string | null;
  status?: 'bot' | 'handoff' | 'closed';
  /** Stored one second apart from startedAt; a string is a patient message. Assistant messages are stored delivered (never sent). */
  messages?: Array<string | InsertedMessage>;
}

/**
 * A conversation and its messages inserted as stored rows at a chosen time
 * (no engine, no events; content sealed as the service stores it): quick
 * enough for hundreds, for exports and lists.
 */
export async function insertConversation(t: TestOrg, input: InsertConversationInput): Promise<{ id: string; patientId: string | null; messageIds: string[] }> {
  const db = t.svc.deps.db.knex;
  const patient = input.patient === undefined ? await buildPatient(t) : input.patient;
  const channel = input.channel ?? 'sms';
  const id = newId('conversation');
  const messages = (input.messages ?? ['Hola']).map((m) => (typeof m === 'string' ? { content: m } : m));
  const at = (i: number) => new Date(input.startedAt.getTime() + (i + 1) * 1000);
  const last = messages.length ? at(messages.length - 1) : input.startedAt;
  const status = input.status ?? 'bot';
  await db('conversations').insert({
    id, organization_id: t.org.id, patient_id: patient?.id ?? null, channel, channel_address: `addr_${unique()}`, status,
    language: input.language === undefined ? patient?.preferred_language ?? null : input.language, message_count: messages.length,
    last_message_at: last, closed_at: status === 'closed' ? last : null, created_at: input.startedAt, updated_at: last,
  });
  const rows = messages.map((m, i) => {
    const sender = m.sender ?? 'patient';
    const inbound = sender === 'patient';
    return {
      id: newId('message'), organization_id: t.org.id, conversation_id: id, patient_id: patient?.id ?? null, channel,
      direction: inbound ? 'inbound' : 'outbound', sender, content: sealText(db, m.content), status: m.status ?? (inbound ? 'received' : 'delivered'),
      created_at: at(i), updated_at: at(i),
    };
  });
  if (rows.length) await db.batchInsert('messages', rows, 500);
  return { id, patientId: patient?.id ?? null, messageIds: rows.map((r) => r.id) };
}

/**
 * A message row stored with its content exactly as given (no sealing): a row
 * from before encryption, or one sealed with another key.
 */
export async function insertRawMessage(t: TestOrg, content: string, where: { conversationId?: string | null; patientId?: string | null } = {}): Promise<string> {
  const id = newId('message');
  await t.svc.deps.db.knex('messages').insert({
    id, organization_id: t.org.id, conversation_id: where.conversationId ?? null, patient_id: where.patientId ?? null, channel: 'sms',
    direction: 'inbound', sender: 'patient', content, status: 'received',
  });
  return id;
}

/** A phone call row as the voice webhooks leave it (analytics and dashboard tests). */
export async function insertCall(t: TestOrg, input: { status: string; startedAt: string; durationSeconds?: number }): Promise<string> {
  const id = newId('call');
  await t.svc.deps.db.knex('calls').insert({
    id, organization_id: t.org.id, call_sid: `CA${randomBytes(16).toString('hex')}`, from_number: uniquePhone(), status: input.status,
    started_at: new Date(input.startedAt), duration_seconds: input.durationSeconds ?? null,
  });
  return id;
}
