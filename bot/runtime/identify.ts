/**
 * Who is writing: on phone channels the sender's number names the patient; on
 * web chat (and Telegram) the session or the conversation carries the patient
 * once the dialogue identified them. Identification (a name, a phone) links
 * the conversation to an existing patient with the same E.164 number in the
 * clinic, or creates one.
 */
import type { Knex } from 'knex';
import type { Db, OrgScope } from '../../models/base.js';
import { createPatient, findPatientByPhone, getPatient, Patient, updatePatient } from '../../models/patients.js';
import { linkConversationPatient } from '../../models/conversations.js';
import { AppError } from '../../lib/errors.js';
import { toE164, toE164InZone } from '../../lib/phone.js';

/** Channels whose sender address is the patient's phone number. */
export const PHONE_CHANNELS = new Set(['sms', 'whatsapp', 'voice']);

export const isPhoneChannel = (channel: string): boolean => PHONE_CHANNELS.has(channel);

export async function findLivePatient(db: Db, scope: OrgScope, id: string | null | undefined): Promise<Patient | undefined> {
  if (!id) return undefined;
  return getPatient(db, scope, id).catch(() => undefined);
}

/** The web chat session's linked patient, if any (the session id is the conversation's address). */
export async function sessionPatientId(db: Db, scope: OrgScope, sessionId: string): Promise<string | null> {
  const row = (await (db as Knex)('webchat_sessions').where({ id: sessionId, organization_id: scope.organizationId }).first('patient_id')) as { patient_id: string | null } | undefined;
  return row?.patient_id ?? null;
}

/** The patient an inbound message comes from, before the conversation is known; undefined for an unknown sender. */
export async function resolveSender(db: Db, scope: OrgScope, channel: string, from: string): Promise<Patient | undefined> {
  if (isPhoneChannel(channel)) {
    const phone = toE164(from);
    return phone ? findPatientByPhone(db, scope, phone) : undefined;
  }
  if (channel === 'webchat') return sessionPatient(db, scope, from);
  if (CHAT_CHANNELS.has(channel)) return chatPatient(db, scope, channel, from);
  return undefined;
}

/** Channels whose address is a chat that stays the same person's (Telegram's chat id): its latest identified conversation names the patient. */
const CHAT_CHANNELS = new Set(['telegram']);

/**
 * The live patient of the latest conversation at a chat address that has one:
 * a Telegram chat identified once (name and phone) is not asked again when a
 * new conversation opens there. The same rule routes reminders and staff
 * messages back to that chat (models/communicationMessages.ts).
 */
async function chatPatient(db: Db, scope: OrgScope, channel: string, address: string): Promise<Patient | undefined> {
  const latest = (db as Knex)('conversations').select('patient_id')
    .where({ organization_id: scope.organizationId, channel, channel_address: address })
    .whereNotNull('patient_id').whereNull('deleted_at')
    .orderBy('created_at', 'desc').limit(1);
  return Patient.query(db)
    .where('patients.id', latest)
    .where('patients.organization_id', scope.organizationId)
    .whereNull('patients.deleted_at').first();
}

/**
 * The web chat session's live linked patient, in one query: two primary-key
 * lookups whatever the statistics say (as a join, a plan made while the tables
 * looked small scanned every patient of the clinic on each message).
 */
async function sessionPatient(db: Db, scope: OrgScope, sessionId: string): Promise<Patient | undefined> {
  const linked = (db as Knex)('webchat_sessions').select('patient_id').where({ id: sessionId, organization_id: scope.organizationId });
  return Patient.query(db)
    .where('patients.id', linked)
    .where('patients.organization_id', scope.organizationId)
    .whereNull('patients.deleted_at').first();
}

export interface IdentifyInput {
  conversationId: string;
  channel: string;
  /** The conversation's address: the sender's phone on phone channels, the session id on web chat. */
  address: string;
  current: Patient | undefined;
  name?: string;
  phone?: string;
  language: string;
  timeZone: string;
}

/** What identifyPatient does for an input; null: nothing to look up or write yet. */
type IdentifyStep = { kind: 'phone'; phone: string } | { kind: 'rename'; patient: Patient; name: string } | { kind: 'without_phone'; name: string } | null;

function identifyStep(input: IdentifyInput): IdentifyStep {
  const phone = input.phone ? toE164InZone(input.phone, input.timeZone) : isPhoneChannel(input.channel) ? toE164(input.address) : null;
  const patient = input.current;
  if (phone && phone !== patient?.phone) return { kind: 'phone', phone };
  if (patient && input.name && patient.name !== input.name && (patient.name === 'Unknown' || !patient.name)) return { kind: 'rename', patient, name: input.name };
  // The patient answered the phone question with something we cannot dial: keep the name rather than ask forever.
  if (!patient && !phone && input.phone && input.name) return { kind: 'without_phone', name: input.name };
  return null;
}

/**
 * Whether identifyPatient has anything to look up or write for `input`. A name
 * alone off a phone channel has not: it waits in the dialogue state for the
 * number, and the turn needs no transaction for it.
 */
export function identifyCanChange(input: IdentifyInput): boolean {
  return identifyStep(input) !== null;
}

/**
 * Applies what the patient told about themselves. Returns the patient the
 * conversation now belongs to, or undefined when there is not enough to make
 * one yet: off phone channels a name waits for the phone number (the engine
 * keeps it in the dialogue state), so a known number links to its patient
 * instead of creating a second one.
 */
export async function identifyPatient(db: Db, scope: OrgScope, input: IdentifyInput): Promise<Patient | undefined> {
  const step = identifyStep(input);
  let patient = input.current;
  if (step?.kind === 'phone') {
    const existing = await findPatientByPhone(db, scope, step.phone);
    if (existing) patient = existing;
    else if (patient && !patient.phone) patient = await updatePatient(db, scope, patient.id, { phone: step.phone, ...(input.name ? { name: input.name } : {}) });
    else if (input.name || !patient) {
      // Another conversation may register the same number meanwhile: then this one links to that patient.
      patient = await createPatient(db, scope, { name: input.name ?? 'Unknown', phone: step.phone, preferred_language: input.language })
        .catch(async (err: unknown) => {
          const taken = err instanceof AppError && err.code === 'CONFLICT' ? await findPatientByPhone(db, scope, step.phone) : undefined;
          if (!taken) throw err;
          return taken;
        });
    }
  } else if (step?.kind === 'rename') {
    patient = await updatePatient(db, scope, step.patient.id, { name: step.name });
  } else if (step?.kind === 'without_phone') {
    patient = await createPatient(db, scope, { name: step.name, preferred_language: input.language });
  }
  if (patient && patient.id !== input.current?.id) await linkPatient(db, scope, input, patient.id);
  return patient;
}

async function linkPatient(db: Db, scope: OrgScope, input: IdentifyInput, patientId: string): Promise<void> {
  await linkConversationPatient(db, scope, { conversationId: input.conversationId, patientId, webchatSessionId: input.channel === 'webchat' ? input.address : null });
}
