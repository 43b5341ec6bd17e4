/**
 * Bulk sends and their batches. A bulk send stores every recipient's message
 * in ONE `INSERT ... SELECT` (rendered per language and per recipient in SQL),
 * so 100k recipients are queued in about a second and the request answers at
 * once; the dispatcher sends them afterwards. A batch's counts are always an
 * aggregate over its messages (index messages(batch_id, status)).
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { BaseModel, type Db, type OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { conflict, notFound, unprocessable, validationError } from '../lib/errors.js';
import { DATE_FORMAT, TEMPLATE_LANGUAGES, TIME_FORMAT, pickBody, renderTemplate, type TemplateValues } from '../lib/templates.js';
import { loadOrganization, nextSendTime, orgSettings } from './settings.js';
import { PHONE_CHANNELS, constantValues, missingAppointmentValues, resolveContent, type ContentInput, type SendChannel } from './communicationMessages.js';
import { whereUnclaimed } from './messages.js';
import { sealText } from './encryption.js';

export { sendToPatient, listCommunications, getCommunication, SEND_CHANNELS, type SendChannel, type CommunicationRow } from './communicationMessages.js';

export type BatchStatus = 'queued' | 'processing' | 'completed' | 'cancelled' | 'failed';

export class CommunicationBatch extends BaseModel {
  static override tableName = 'communication_batches';
  static override jsonAttributes = ['audience'];
  id!: string;
  organization_id!: string;
  channel!: string;
  status!: BatchStatus;
  template_id!: string | null;
  audience!: Record<string, unknown>;
  total!: number;
  created_by!: string | null;
  completed_at!: Date | null;
  cancelled_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

/** Disjoint buckets that add up to total: queued includes sending, delivered includes read. */
export interface BatchCounts { total: number; queued: number; sent: number; delivered: number; failed: number; skipped: number; cancelled: number }

export interface BatchView { batch: CommunicationBatch; status: BatchStatus; counts: BatchCounts }

export interface BulkFilter {
  status?: 'active' | 'inactive';
  /** Patients with an active appointment on this local day (clinic zone). */
  appointmentDate?: string;
  /** Patients with an active appointment with this doctor (on appointmentDate, else upcoming). */
  doctorId?: string;
  language?: string;
}

export interface BulkSendInput extends ContentInput {
  patientIds?: string[];
  filter?: BulkFilter;
  channel: SendChannel;
  createdBy: string | null;
  sender: 'staff' | 'system';
  now: Date;
  /** Recipients stored per statement (default BULK_CHUNK); each chunk is sealed while the one before is stored. */
  chunkSize?: number;
}

const BUCKET: Record<string, keyof BatchCounts> = {
  queued: 'queued', sending: 'queued', sent: 'sent', delivered: 'delivered', read: 'delivered',
  failed: 'failed', skipped: 'skipped', cancelled: 'cancelled',
};

function countsFrom(rows: { status: string; n: number }[]): BatchCounts {
  const c: BatchCounts = { total: 0, queued: 0, sent: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const r of rows) {
    const n = Number(r.n);
    c.total += n;
    const bucket = BUCKET[r.status];
    if (bucket) c[bucket] += n;
  }
  return c;
}

/** The status the counts imply; completed (or failed, when nothing got out) once nothing waits. */
export function deriveBatchStatus(batch: Pick<CommunicationBatch, 'cancelled_at'>, c: BatchCounts): BatchStatus {
  if (batch.cancelled_at) return 'cancelled';
  if (c.queued > 0) return c.sent + c.delivered + c.failed > 0 ? 'processing' : 'queued';
  if (c.failed > 0 && c.sent + c.delivered === 0) return 'failed';
  return 'completed';
}

/**
 * Recounts a batch from its messages and records a status change (completed_at
 * the first time it is seen finished). Not scoped: the dispatcher calls it
 * with the batch id of the messages it just finished.
 */
export async function refreshBatchStatus(db: Db, batchId: string): Promise<BatchView | null> {
  const k = db as Knex;
  const batch = await CommunicationBatch.query(db).findById(batchId);
  if (!batch) return null;
  const rows = (await k('messages').where({ batch_id: batchId }).groupBy('status').select('status', k.raw('count(*)::int AS n'))) as { status: string; n: number }[];
  const counts = countsFrom(rows);
  const status = deriveBatchStatus(batch, counts);
  if (status !== batch.status) {
    const finished = status === 'completed' || status === 'failed';
    const patch: Record<string, unknown> = { status, updated_at: k.fn.now() };
    if (finished) patch.completed_at = k.raw('coalesce(completed_at, now())');
    const [updated] = await k('communication_batches').where({ id: batchId }).whereNull('cancelled_at').update(patch).returning('completed_at');
    batch.status = status;
    if (updated) batch.completed_at = updated.completed_at;
  }
  return { batch, status, counts };
}

export async function getBatch(db: Db, scope: OrgScope, id: string): Promise<BatchView> {
  const exists = await CommunicationBatch.query(db).where({ id, organization_id: scope.organizationId }).first();
  if (!exists) throw notFound('Batch');
  return (await refreshBatchStatus(db, id))!;
}

/** Moves the batch's still-queued messages to cancelled (one UPDATE); messages already claimed or sent stay as they are. */
export async function cancelBatch(db: Db, scope: OrgScope, id: string): Promise<BatchView> {
  const k = db as Knex;
  const view = await getBatch(db, scope, id);
  if (view.status === 'cancelled') return view;
  if (view.status === 'completed' || view.status === 'failed') {
    throw conflict(`The batch is already ${view.status}; nothing is left to cancel`, { status: view.status });
  }
  await whereUnclaimed(k('messages').where({ organization_id: scope.organizationId, batch_id: id, status: 'queued' }), k)
    .update({ status: 'cancelled', last_error: 'batch_cancelled', next_attempt_at: null, updated_at: k.fn.now() });
  await k('communication_batches').where({ id }).update({ status: 'cancelled', cancelled_at: k.fn.now(), completed_at: k.fn.now(), updated_at: k.fn.now() });
  return (await refreshBatchStatus(db, id))!;
}

/** Recipients stored per statement of a bulk send: each chunk is sealed while the one before is stored. */
const BULK_CHUNK = 10_000;

/** Ids for the batch's messages: `msg_` + time + random (like newId) with the row number as the last 10 chars, so they sort in insert order. */
function messageIdPrefix(now: Date): string {
  const base = newId('message', now.getTime()).slice(0, 4 + 10);
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const random = [...randomBytes(6)].map((b) => alphabet[b % 32]).join('');
  return base + random;
}

/**
 * Queues one message per recipient and records the batch: one statement
 * reads the recipients with their rendered bodies, a second stores the
 * messages, sealed. Opted-out patients and patients without an address on
 * the channel are stored as skipped (last_error opted_out / no_address) and
 * never sent. Must run in a transaction (the caller's).
 */
export async function createBulkSend(db: Db, scope: OrgScope, input: BulkSendInput): Promise<BatchView> {
  const k = db as Knex;
  const orgId = scope.organizationId;
  const org = await loadOrganization(db, scope);
  const settings = orgSettings(org);
  const content = await resolveContent(db, scope, input.channel, input);
  const constants = constantValues(org, input.variables);
  const filter = input.filter ?? {};
  const withAppointment = Boolean(filter.appointmentDate || filter.doctorId);
  const missing = missingAppointmentValues(content, constants);
  if (missing.length && !withAppointment) {
    const msg = `uses ${missing.map((v) => `{{${v}}}`).join(', ')}, which needs an appointment: filter by appointment_date or doctor_id, or pass variables.${missing[0]}`;
    throw validationError(`${content.field}: ${msg}`, [{ field: content.field, message: msg }]);
  }

  if (input.patientIds) {
    const ids = [...new Set(input.patientIds)];
    const found = new Set((await k('patients').where({ organization_id: orgId }).whereNull('deleted_at').whereIn('id', ids).pluck('id')) as string[]);
    const unknown = ids.filter((id) => !found.has(id));
    if (unknown.length) throw unprocessable(`${unknown.length} patient id(s) do not exist`, { field: 'patient_ids', unknown_patient_ids: unknown.slice(0, 50) });
  }

  const where: string[] = [];
  const whereArgs: unknown[] = [];
  if (input.patientIds) { where.push('AND p.id = ANY(?::text[])'); whereArgs.push([...new Set(input.patientIds)]); }
  if (filter.status) { where.push('AND p.status = ?'); whereArgs.push(filter.status); }
  if (filter.language) { where.push('AND p.preferred_language = ?'); whereArgs.push(filter.language); }

  let apptJoin = '';
  const apptArgs: unknown[] = [];
  if (withAppointment) {
    const conds = [`a.organization_id = p.organization_id`, `a.patient_id = p.id`, `a.status IN ('scheduled', 'confirmed')`];
    if (filter.appointmentDate) {
      const day = DateTime.fromISO(filter.appointmentDate, { zone: org.time_zone }).startOf('day');
      conds.push('a.start_time >= ?', 'a.start_time < ?');
      apptArgs.push(day.toJSDate(), day.plus({ days: 1 }).toJSDate());
    } else {
      conds.push('a.start_time >= ?');
      apptArgs.push(input.now);
    }
    if (filter.doctorId) { conds.push('a.doctor_id = ?'); apptArgs.push(filter.doctorId); }
    apptJoin = `JOIN LATERAL (SELECT a.start_time, d.name AS doctor_name FROM appointments a JOIN doctors d ON d.id = a.doctor_id
      WHERE ${conds.join(' AND ')} ORDER BY a.start_time LIMIT 1) a ON true`;
  }

  const phone = PHONE_CHANNELS.includes(input.channel);
  const convJoin = phone
    ? `LEFT JOIN conversations c ON c.organization_id = p.organization_id AND c.channel = ? AND c.channel_address = p.phone
         AND c.status <> 'closed' AND c.deleted_at IS NULL`
    : `LEFT JOIN LATERAL (SELECT c.id, c.channel_address, c.status FROM conversations c
         WHERE c.organization_id = p.organization_id AND c.patient_id = p.id AND c.channel = ? AND c.deleted_at IS NULL
         ORDER BY (c.status <> 'closed') DESC, c.last_message_at DESC LIMIT 1) c ON true`;
  const address = phone ? 'p.phone' : 'c.channel_address';
  const conversation = phone ? 'c.id' : `CASE WHEN c.status <> 'closed' THEN c.id END`;

  // Per-language bodies with the clinic-wide values already filled in; per-recipient ones are replaced in SQL.
  const defaultLanguage = settings.default_language;
  const bodyFor = (lang: string | null) => renderTemplate(pickBody(content.bodies, lang, defaultLanguage).body, constants);
  let contentSql = `CASE r.preferred_language ${TEMPLATE_LANGUAGES.map(() => 'WHEN ? THEN ?').join(' ')} ELSE ? END`;
  const contentArgs: unknown[] = [...TEMPLATE_LANGUAGES.flatMap((lang) => [lang, bodyFor(lang)]), bodyFor(null)];
  const perRecipient: [string, string, unknown[]][] = [];
  if (withAppointment) {
    perRecipient.push(['date', `to_char(r.start_time AT TIME ZONE ?::text, ?)`, [org.time_zone, DATE_FORMAT.sql]]);
    perRecipient.push(['time', `to_char(r.start_time AT TIME ZONE ?::text, ?)`, [org.time_zone, TIME_FORMAT.sql]]);
    perRecipient.push(['doctor', 'r.doctor_name', []]);
  }
  // The patient's own name last: text a patient typed is never scanned for placeholders.
  perRecipient.push(['first_name', `split_part(btrim(r.name), ' ', 1)`, []], ['name', 'r.name', []]);
  for (const [variable, expr, args] of perRecipient) {
    if (!content.variables.includes(variable as never) || constants[variable as keyof TemplateValues] !== undefined) continue;
    contentSql = `replace(${contentSql}, '{{${variable}}}', coalesce(${expr}, ''))`;
    contentArgs.push(...args);
  }

  // The bodies are rendered in SQL (above) and sealed here (models/encryption.ts): no message text is stored as written.
  const recipients = (await k.raw(`
    WITH r AS (
      SELECT p.id AS patient_id, p.name, p.preferred_language, p.opted_out_at,
             ${address} AS to_address, ${conversation} AS conversation_id
             ${withAppointment ? ', a.start_time, a.doctor_name' : ''}
      FROM patients p
      ${apptJoin}
      ${convJoin}
      WHERE p.organization_id = ? AND p.deleted_at IS NULL ${where.join(' ')}
    )
    SELECT r.patient_id, r.conversation_id, r.to_address, r.opted_out_at IS NOT NULL AS opted_out, ${contentSql} AS content
    FROM r ORDER BY r.patient_id`,
  [...apptArgs, input.channel, orgId, ...whereArgs, ...contentArgs] as Knex.RawBinding[])) as {
    rows: { patient_id: string; conversation_id: string | null; to_address: string | null; opted_out: boolean; content: string }[];
  };

  const sendAfter = nextSendTime(settings.quiet_hours, org.time_zone, input.now);
  const batchId = newId('batch', input.now.getTime());
  const idPrefix = messageIdPrefix(input.now);
  const rows = recipients.rows;
  const sql = `
    WITH ins AS (
      INSERT INTO messages (id, organization_id, conversation_id, patient_id, channel, direction, sender, sender_user_id,
        content, to_address, status, last_error, batch_id, metadata, next_attempt_at, created_at, updated_at)
      SELECT v.id, ?, v.conversation_id, v.patient_id, ?, 'outbound', ?, ?,
        v.content, v.to_address,
        CASE WHEN v.opted_out OR v.to_address IS NULL THEN 'skipped' ELSE 'queued' END,
        CASE WHEN v.opted_out THEN 'opted_out' WHEN v.to_address IS NULL THEN 'no_address' END,
        ?, ?::jsonb,
        CASE WHEN NOT v.opted_out AND v.to_address IS NOT NULL THEN ?::timestamptz END,
        ?, ?
      FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::boolean[]) AS v(id, conversation_id, patient_id, content, to_address, opted_out)
      RETURNING status, conversation_id
    ),
    bump AS (
      UPDATE conversations c SET message_count = c.message_count + b.n, last_message_at = greatest(c.last_message_at, ?), updated_at = now()
      FROM (SELECT conversation_id, count(*) AS n FROM ins WHERE status = 'queued' AND conversation_id IS NOT NULL GROUP BY conversation_id) b
      WHERE c.id = b.conversation_id
    )
    SELECT status, count(*)::int AS n FROM ins GROUP BY status`;
  const fixedArgs = [
    orgId, input.channel, input.sender, input.createdBy,
    batchId, JSON.stringify(content.templateId ? { template_id: content.templateId } : {}),
    sendAfter.getTime() > input.now.getTime() ? sendAfter : null,
    input.now, input.now,
  ];
  // In chunks, each sealed while PostgreSQL stores the one before (sealing is most of this function's own work).
  const statusRows: { status: string; n: number }[] = [];
  let storing: Promise<void> = Promise.resolve();
  const chunkSize = input.chunkSize ?? BULK_CHUNK;
  for (let start = 0; start < rows.length; start += chunkSize) {
    const chunk = rows.slice(start, start + chunkSize);
    const args = [
      ...fixedArgs,
      // Ids sort in the recipients' order (the row number is their last 10 characters).
      chunk.map((_, i) => idPrefix + String(start + i + 1).padStart(10, '0')), chunk.map((r) => r.conversation_id), chunk.map((r) => r.patient_id),
      chunk.map((r) => sealText(db, r.content)), chunk.map((r) => r.to_address), chunk.map((r) => r.opted_out),
      input.now,
    ];
    await storing;
    storing = (k.raw(sql, args as Knex.RawBinding[]) as Promise<{ rows: { status: string; n: number }[] }>).then((r) => { statusRows.push(...r.rows); });
  }
  await storing;
  const result = { rows: statusRows };
  const counts = countsFrom(result.rows);
  if (counts.total === 0) throw unprocessable('No patients match the recipients of this bulk send', { field: input.patientIds ? 'patient_ids' : 'filter' });

  const audience = input.patientIds
    ? { patient_ids: counts.total }
    : { status: filter.status ?? null, appointment_date: filter.appointmentDate ?? null, doctor_id: filter.doctorId ?? null, language: filter.language ?? null };
  const row = await CommunicationBatch.query(db).insertAndFetch({
    id: batchId, organization_id: orgId, channel: input.channel, template_id: content.templateId,
    audience, total: counts.total, created_by: input.createdBy,
    status: counts.queued > 0 ? 'queued' : 'completed', completed_at: counts.queued > 0 ? null : input.now,
    created_at: input.now, updated_at: input.now,
  } as Partial<CommunicationBatch>);
  return { batch: row, status: deriveBatchStatus(row, counts), counts };
}
