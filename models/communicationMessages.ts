/**
 * Communication messages: single sends and the list of messages. Content is a
 * free message or a template, rendered in the patient's language with
 * `{{variables}}` (lib/templates.ts). Bulk sends and their batches are in
 * models/communications.ts and share the pieces exported here.
 */
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { type Db, type OrgScope } from './base.js';
import { getPatient } from './patients.js';
import { queueOutboundMessage } from './messages.js';
import { findTemplateByIdOrName } from './templates.js';
import { loadOrganization, orgSettings } from './settings.js';
import { dateBounds } from './dateRange.js';
import { openText } from './encryption.js';
import { unprocessable, validationError, notFound } from '../lib/errors.js';
import {
  APPOINTMENT_VARIABLES, DATE_FORMAT, TIME_FORMAT, checkBody, extractVariables, firstNameOf, isTemplateVariable,
  pickBody, renderTemplate, variablesOf, type TemplateValues, type TemplateVariable,
} from '../lib/templates.js';

export const SEND_CHANNELS = ['sms', 'whatsapp', 'telegram', 'webchat'] as const;
export type SendChannel = (typeof SEND_CHANNELS)[number];

/** Channels whose address is the patient's phone; the others use the patient's latest conversation there. */
export const PHONE_CHANNELS: readonly SendChannel[] = ['sms', 'whatsapp'];

export interface ContentInput {
  message?: string;
  templateId?: string;
  variables?: TemplateValues;
}

/** Content ready to render: bodies by language (a free message has one, used for every language). */
export interface ResolvedContent {
  bodies: Record<string, string>;
  templateId: string | null;
  /** The request field named in errors about the content. */
  field: 'message' | 'template_id';
  variables: TemplateVariable[];
}

/** Loads the template (404) or checks the free message (400), and checks the template fits the channel (422). */
export async function resolveContent(db: Db, scope: OrgScope, channel: string, input: ContentInput): Promise<ResolvedContent> {
  if (input.templateId) {
    const t = await findTemplateByIdOrName(db, scope, input.templateId);
    if (t.channel && t.channel !== channel) {
      throw unprocessable(`Template "${t.name}" is for the ${t.channel} channel, not ${channel}`, { field: 'template_id', template_channel: t.channel });
    }
    return { bodies: t.bodies, templateId: t.id, field: 'template_id', variables: variablesOf(t.bodies) };
  }
  const message = input.message ?? '';
  const problems = checkBody('message', message);
  if (problems.length) throw validationError(`Validation failed: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
  return { bodies: { '*': message }, templateId: null, field: 'message', variables: extractVariables(message).filter(isTemplateVariable) };
}

/** Values known before looking at any recipient: the clinic's, then the sender's explicit ones (which win). */
export function constantValues(org: { name: string; settings: Record<string, unknown> }, explicit: TemplateValues | undefined): TemplateValues {
  const settings = orgSettings(org);
  return { clinic: org.name, emergency_number: settings.emergency_number, ...(explicit ?? {}) };
}

/** Appointment variables the content uses that no explicit value covers. */
export function missingAppointmentValues(content: ResolvedContent, values: TemplateValues): TemplateVariable[] {
  return content.variables.filter((v) => APPOINTMENT_VARIABLES.includes(v) && values[v] === undefined);
}

export interface SendInput extends ContentInput {
  patientId: string;
  channel: SendChannel;
  sender: 'staff' | 'system';
  senderUserId: string | null;
  now: Date;
}

interface NextAppointment { start_time: Date; doctor_name: string }

async function nextAppointment(db: Db, scope: OrgScope, patientId: string, now: Date): Promise<NextAppointment | undefined> {
  return (db as Knex)('appointments as a').join('doctors as d', 'd.id', 'a.doctor_id')
    .where({ 'a.organization_id': scope.organizationId, 'a.patient_id': patientId })
    .whereIn('a.status', ['scheduled', 'confirmed']).where('a.start_time', '>=', now)
    .orderBy('a.start_time', 'asc').first('a.start_time', 'd.name as doctor_name');
}

/** The patient's address on a channel and the open conversation there, if any. */
export async function channelAddress(db: Db, scope: OrgScope, patient: { id: string; phone: string | null }, channel: SendChannel): Promise<{ to: string | null; conversationId: string | null }> {
  const k = db as Knex;
  if (PHONE_CHANNELS.includes(channel)) {
    if (!patient.phone) return { to: null, conversationId: null };
    const open = await k('conversations').where({ organization_id: scope.organizationId, channel, channel_address: patient.phone })
      .whereNot('status', 'closed').whereNull('deleted_at').first('id');
    return { to: patient.phone, conversationId: open?.id ?? null };
  }
  const latest = await k('conversations').where({ organization_id: scope.organizationId, patient_id: patient.id, channel })
    .whereNull('deleted_at').orderByRaw(`(status <> 'closed') DESC, last_message_at DESC`).first('id', 'channel_address', 'status');
  if (!latest) return { to: null, conversationId: null };
  return { to: latest.channel_address, conversationId: latest.status === 'closed' ? null : latest.id };
}

/**
 * Queues one message to a patient (status queued; the dispatcher sends it
 * after commit). An opted-out patient or one without an address on the
 * channel is refused with 422 rather than stored as skipped: a single send is
 * interactive, and the sender should learn at once that it will not arrive.
 */
export async function sendToPatient(db: Db, scope: OrgScope, input: SendInput): Promise<string> {
  const org = await loadOrganization(db, scope);
  const patient = await getPatient(db, scope, input.patientId);
  if (patient.opted_out_at) {
    throw unprocessable('The patient has opted out of messages', { reason: 'opted_out', patient_id: patient.id });
  }
  const { to, conversationId } = await channelAddress(db, scope, patient, input.channel);
  if (!to) {
    throw unprocessable(`The patient has no address on ${input.channel}`, { reason: 'no_address', channel: input.channel, patient_id: patient.id });
  }
  const content = await resolveContent(db, scope, input.channel, input);
  const values: TemplateValues = { name: patient.name, first_name: firstNameOf(patient.name), ...constantValues(org, input.variables) };
  const missing = missingAppointmentValues(content, values);
  if (missing.length) {
    const appt = await nextAppointment(db, scope, patient.id, input.now);
    if (!appt) {
      throw unprocessable(`The ${content.field === 'template_id' ? 'template' : 'message'} uses ${missing.map((v) => `{{${v}}}`).join(', ')} but the patient has no upcoming appointment; pass them in variables`, { field: content.field, variables: missing });
    }
    const local = DateTime.fromJSDate(new Date(appt.start_time), { zone: org.time_zone });
    values.date ??= local.toFormat(DATE_FORMAT.luxon);
    values.time ??= local.toFormat(TIME_FORMAT.luxon);
    values.doctor ??= appt.doctor_name;
  }
  const { body } = pickBody(content.bodies, patient.preferred_language, orgSettings(org).default_language);
  const message = await queueOutboundMessage(db, scope, {
    conversationId, patientId: patient.id, channel: input.channel, to, text: renderTemplate(body, values),
    sender: input.sender, senderUserId: input.senderUserId,
    metadata: content.templateId ? { template_id: content.templateId } : {},
    now: input.now,
  });
  return message.id;
}

/** A message as the communications API shows it, with the patient's and the sending user's names. */
export interface CommunicationRow {
  id: string;
  patient_id: string | null;
  patient_name: string | null;
  conversation_id: string | null;
  batch_id: string | null;
  channel: string;
  direction: 'inbound' | 'outbound';
  sender: string;
  sender_user_id: string | null;
  sender_user_name: string | null;
  content: string;
  status: string;
  claimed_until: Date | null;
  last_error: string | null;
  metadata: Record<string, unknown> | null;
  created_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  read_at: Date | null;
  failed_at: Date | null;
}

export interface ListCommunicationsInput {
  page: number;
  limit: number;
  sort: [string, 'asc' | 'desc'];
  patientId?: string;
  channel?: string;
  /** A message status; `pending` means queued or sending (the PRM spelling). */
  status?: string;
  batchId?: string;
  direction?: 'inbound' | 'outbound';
  /** 'YYYY-MM-DD' (a local day in the clinic's zone, inclusive) or an ISO date-time. */
  startDate?: string;
  endDate?: string;
}

const COLUMNS = [
  'm.id', 'm.patient_id', 'p.name as patient_name', 'm.conversation_id', 'm.batch_id', 'm.channel', 'm.direction', 'm.sender',
  'm.sender_user_id', 'm.content', 'm.status', 'm.claimed_until', 'm.last_error', 'm.metadata', 'm.created_at', 'm.sent_at', 'm.delivered_at', 'm.read_at', 'm.failed_at',
];

function joined(db: Db, orgId: string): Knex.QueryBuilder {
  const k = db as Knex;
  return k('messages as m')
    .leftJoin('patients as p', 'p.id', 'm.patient_id')
    .leftJoin('users as u', 'u.id', 'm.sender_user_id')
    .where('m.organization_id', orgId);
}

const selectRow = (q: Knex.QueryBuilder, k: Knex) =>
  q.select(...COLUMNS, k.raw(`nullif(btrim(u.first_name || ' ' || u.last_name), '') AS sender_user_name`));

export async function listCommunications(db: Db, scope: OrgScope, input: ListCommunicationsInput): Promise<{ rows: CommunicationRow[]; total: number }> {
  const k = db as Knex;
  const q = joined(db, scope.organizationId);
  if (input.patientId) q.where('m.patient_id', input.patientId);
  if (input.channel) q.where('m.channel', input.channel);
  // A claim is a lease on a queued row (models/outbox.ts): 'sending' is queued under a live one.
  if (input.status === 'pending') q.whereIn('m.status', ['queued', 'sending']);
  else if (input.status === 'sending') q.where('m.status', 'queued').where('m.claimed_until', '>', k.fn.now());
  else if (input.status === 'queued') q.where('m.status', 'queued').where((w) => w.whereNull('m.claimed_until').orWhere('m.claimed_until', '<=', k.fn.now()));
  else if (input.status) q.where('m.status', input.status);
  if (input.batchId) q.where('m.batch_id', input.batchId);
  if (input.direction) q.where('m.direction', input.direction);
  if (input.startDate || input.endDate) {
    const { start, end } = dateBounds(input.startDate, input.endDate, (await loadOrganization(db, scope)).time_zone);
    if (start) q.where('m.created_at', '>=', start);
    if (end) q.where('m.created_at', '<', end);
  }
  const [{ count }] = (await q.clone().count('* as count')) as unknown as { count: number }[];
  const [field, dir] = input.sort;
  const rows = (await selectRow(q, k).orderBy(`m.${field}`, dir).orderBy('m.id', dir)
    .limit(input.limit).offset((input.page - 1) * input.limit)) as CommunicationRow[];
  return { rows: rows.map((r) => ({ ...r, content: openText(db, r.content) })), total: Number(count) };
}

export async function getCommunication(db: Db, scope: OrgScope, id: string): Promise<CommunicationRow> {
  const row = (await selectRow(joined(db, scope.organizationId).where('m.id', id), db as Knex).first()) as CommunicationRow | undefined;
  if (!row) throw notFound('Communication');
  return { ...row, content: openText(db, row.content) };
}
