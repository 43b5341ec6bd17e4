/**
 * Analytics reads (Mark Assistant's conversation, appointment and patient
 * statistics; VAANI's period analytics): every figure is counted by
 * PostgreSQL, scoped by organization, over a Period of analyticsPeriod.ts.
 * One statement per subject: the breakdowns of a subject come from a single
 * scan with GROUP BY GROUPING SETS, filtered on (organization_id, created_at)
 * or (organization_id, start_time), the indexes those tables already have.
 */
import type { Knex } from 'knex';
import type { Db, OrgScope } from './base.js';
import { bucketLabels, bucketSql, mean, percent, type Period } from './analyticsPeriod.js';
import { APPOINTMENT_STATUSES, type AppointmentStatus } from './appointmentQueries.js';

export interface Share { key: string; count: number; percentage: number }

/** A breakdown: the rows of one grouping set, each with the columns of the set and the measures. */
interface Dimension { name: string; columns: string[] }
type Row = Record<string, unknown> & { dimension: string };

/**
 * Runs `source` (a SELECT of one row per record) once and groups it by each
 * dimension and by nothing (the `total` row). GROUPING() tells the sets
 * apart, so a NULL value of a column is a group of its own, not a total.
 * Column names come from this module, never from input.
 */
async function breakdowns(db: Db, source: string, bindings: Knex.RawBinding[], dims: Dimension[], measures: string): Promise<Map<string, Row[]>> {
  const columns = [...new Set(dims.flatMap((d) => d.columns))];
  const which = dims.map((d) => `WHEN GROUPING(${d.columns[0]}) = 0 THEN '${d.name}'`).join(' ');
  const sql = `SELECT CASE ${which} ELSE 'total' END AS dimension, ${columns.join(', ')}, ${measures}
    FROM (${source}) s
    GROUP BY GROUPING SETS (${dims.map((d) => `(${d.columns.join(', ')})`).join(', ')}, ())`;
  const { rows } = (await (db as Knex).raw(sql, bindings)) as { rows: Row[] };
  const out = new Map<string, Row[]>(dims.map((d) => [d.name, []]).concat([['total', []]]) as Array<[string, Row[]]>);
  for (const row of rows) out.get(row.dimension)!.push(row);
  return out;
}

const num = (v: unknown): number => Number(v ?? 0);

/** Shares of the total, largest first (ties by key), NULL keys named `nullAs` or left out. */
function shares(rows: Row[], column: string, total: number, opts: { nullAs?: string; limit?: number } = {}): Share[] {
  const out = rows
    .filter((r) => r[column] != null || opts.nullAs !== undefined)
    .map((r) => ({ key: String(r[column] ?? opts.nullAs), count: num(r.count) }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
    .slice(0, opts.limit ?? Infinity);
  return out.map((s) => ({ ...s, percentage: percent(s.count, total) }));
}

/** One row per bucket of the period, zeros where nothing happened. */
function series<T>(period: Period, rows: Row[], pick: (row: Row | undefined) => T): Array<{ interval: string } & T> {
  const byLabel = new Map(rows.filter((r) => r.bucket != null).map((r) => [String(r.bucket), r]));
  return bucketLabels(period).map((label) => ({ interval: label, ...pick(byLabel.get(label)) }));
}

// ---- conversations ----

export interface ConversationStats {
  total: number;
  averageLength: number;
  escalated: number;
  handoffRate: number;
  byInterval: Array<{ interval: string; count: number; average_length: number }>;
  byLanguage: Share[];
  byChannel: Share[];
  byStatus: Share[];
  bySentiment: Share[];
  topIntents: Share[];
  /** Every local hour 0-23. */
  byHour: Array<{ hour: number; count: number }>;
}

/** Conversations started in the period (soft-deleted ones left out), optionally of one language. */
export async function conversationStats(db: Db, scope: OrgScope, period: Period, opts: { language?: string } = {}): Promise<ConversationStats> {
  const zone = period.timeZone;
  const source = `SELECT ${bucketSql('c.created_at', period.interval)} AS bucket,
      extract(hour FROM c.created_at AT TIME ZONE ?::text)::int AS hour_of_day,
      c.channel, c.language, c.status, c.intent, c.sentiment, c.message_count, c.escalated
    FROM conversations c
    WHERE c.organization_id = ? AND c.created_at >= ? AND c.created_at < ? AND c.deleted_at IS NULL
      ${opts.language ? 'AND c.language = ?' : ''}`;
  const bindings: Knex.RawBinding[] = [zone, zone, scope.organizationId, period.start, period.end, ...(opts.language ? [opts.language] : [])];
  const groups = await breakdowns(db, source, bindings, [
    { name: 'bucket', columns: ['bucket'] }, { name: 'hour', columns: ['hour_of_day'] }, { name: 'channel', columns: ['channel'] },
    { name: 'language', columns: ['language'] }, { name: 'status', columns: ['status'] }, { name: 'intent', columns: ['intent'] },
    { name: 'sentiment', columns: ['sentiment'] },
  ], 'count(*)::int AS count, coalesce(sum(message_count), 0)::int AS messages, (count(*) FILTER (WHERE escalated))::int AS escalated');
  const totals = groups.get('total')![0];
  const total = num(totals?.count);
  const hours = new Map(groups.get('hour')!.map((r) => [num(r.hour_of_day), num(r.count)]));
  return {
    total,
    averageLength: mean(num(totals?.messages), total),
    escalated: num(totals?.escalated),
    handoffRate: percent(num(totals?.escalated), total),
    byInterval: series(period, groups.get('bucket')!, (r) => ({ count: num(r?.count), average_length: mean(num(r?.messages), num(r?.count)) })),
    byLanguage: shares(groups.get('language')!, 'language', total, { nullAs: 'unknown' }),
    byChannel: shares(groups.get('channel')!, 'channel', total),
    byStatus: shares(groups.get('status')!, 'status', total),
    bySentiment: shares(groups.get('sentiment')!, 'sentiment', total, { nullAs: 'unknown' }),
    topIntents: shares(groups.get('intent')!, 'intent', total, { limit: 10 }),
    byHour: Array.from({ length: 24 }, (_, hour) => ({ hour, count: hours.get(hour) ?? 0 })),
  };
}

// ---- appointments ----

export type StatusCounts = Record<AppointmentStatus, number>;

export interface AppointmentStats {
  total: number;
  byStatus: StatusCounts;
  /** no_show / (completed + no_show): of the appointments whose attendance was recorded. */
  noShowRate: number;
  /** cancelled / total. */
  cancellationRate: number;
  completionRate: number;
  byType: Share[];
  bySource: Share[];
  /** bot: booked by a patient in a conversation (no user made it); api: by staff or an integrator through the API. */
  bookedThrough: { bot: number; api: number };
  byInterval: Array<{ interval: string; total: number } & StatusCounts>;
  byDoctor: Array<{ doctor_id: string; doctor_name: string; specialization: string; total: number } & StatusCounts>;
  bySpecialization: Share[];
  cancellationReasons: Share[];
}

/** SQL measures: one count per appointment status, named by the status. */
export const STATUS_MEASURES = APPOINTMENT_STATUSES.map((s) => `(count(*) FILTER (WHERE status = '${s}'))::int AS ${s}`).join(', ');
export const statusCounts = (r: Record<string, unknown> | undefined): StatusCounts =>
  Object.fromEntries(APPOINTMENT_STATUSES.map((s) => [s, num(r?.[s])])) as StatusCounts;

/** Appointments whose start falls in the period, whatever their status. */
export async function appointmentStats(db: Db, scope: OrgScope, period: Period): Promise<AppointmentStats> {
  const source = `SELECT ${bucketSql('a.start_time', period.interval)} AS bucket,
      a.status, a.type, a.source, CASE WHEN a.created_by IS NULL THEN 'bot' ELSE 'api' END AS booked_through,
      a.doctor_id, d.name AS doctor_name, d.specialization AS doctor_specialization, d.specialization,
      CASE WHEN a.status = 'cancelled' THEN coalesce(nullif(btrim(a.cancellation_reason), ''), 'Not given') END AS cancellation_reason
    FROM appointments a
    JOIN doctors d ON d.id = a.doctor_id AND d.organization_id = a.organization_id
    WHERE a.organization_id = ? AND a.start_time >= ? AND a.start_time < ?`;
  const groups = await breakdowns(db, source, [period.timeZone, scope.organizationId, period.start, period.end], [
    { name: 'bucket', columns: ['bucket'] }, { name: 'type', columns: ['type'] }, { name: 'source', columns: ['source'] },
    { name: 'booked_through', columns: ['booked_through'] },
    { name: 'doctor', columns: ['doctor_id', 'doctor_name', 'doctor_specialization'] },
    { name: 'specialization', columns: ['specialization'] }, { name: 'cancellation_reason', columns: ['cancellation_reason'] },
  ], `count(*)::int AS count, ${STATUS_MEASURES}`);
  const totals = groups.get('total')![0];
  const total = num(totals?.count);
  const byStatus = statusCounts(totals);
  const through = new Map(groups.get('booked_through')!.map((r) => [String(r.booked_through), num(r.count)]));
  return {
    total,
    byStatus,
    noShowRate: percent(byStatus.no_show, byStatus.completed + byStatus.no_show),
    cancellationRate: percent(byStatus.cancelled, total),
    completionRate: percent(byStatus.completed, total),
    byType: shares(groups.get('type')!, 'type', total),
    bySource: shares(groups.get('source')!, 'source', total),
    bookedThrough: { bot: through.get('bot') ?? 0, api: through.get('api') ?? 0 },
    byInterval: series(period, groups.get('bucket')!, (r) => ({ total: num(r?.count), ...statusCounts(r) })),
    byDoctor: groups.get('doctor')!
      .map((r) => ({ doctor_id: String(r.doctor_id), doctor_name: String(r.doctor_name), specialization: String(r.doctor_specialization), total: num(r.count), ...statusCounts(r) }))
      .sort((a, b) => b.total - a.total || a.doctor_name.localeCompare(b.doctor_name)),
    bySpecialization: shares(groups.get('specialization')!, 'specialization', total),
    // Of the cancelled appointments; the other statuses form the NULL group, left out.
    cancellationReasons: shares(groups.get('cancellation_reason')!, 'cancellation_reason', byStatus.cancelled, { limit: 10 }),
  };
}

// ---- patients ----

/** Interactions in the period (inbound messages plus appointments) that make a patient highly or moderately engaged. */
export const ENGAGEMENT = { high: 10, moderate: 3 } as const;

export interface PatientStats {
  /** Patients registered before the end of the period and not deleted. */
  total: number;
  /** Registered in the period. */
  new: number;
  /** Wrote to the clinic or had an appointment in the period. */
  active: number;
  /** Of the total, those who opted out of messages (as of now). */
  optedOut: number;
  byLanguage: Share[];
  byStatus: Share[];
  newByInterval: Array<{ interval: string; count: number }>;
  engagement: { highly_engaged: number; moderately_engaged: number; low_engagement: number; inactive: number };
}

export async function patientStats(db: Db, scope: OrgScope, period: Period): Promise<PatientStats> {
  const orgId = scope.organizationId;
  const source = `SELECT CASE WHEN p.created_at >= ? THEN ${bucketSql('p.created_at', period.interval)} END AS bucket,
      p.preferred_language AS language, p.status, p.created_at >= ? AS is_new, p.opted_out_at IS NOT NULL AS opted_out
    FROM patients p
    WHERE p.organization_id = ? AND p.created_at < ? AND p.deleted_at IS NULL`;
  const groups = await breakdowns(db, source, [period.start, period.timeZone, period.start, orgId, period.end], [
    { name: 'bucket', columns: ['bucket'] }, { name: 'language', columns: ['language'] }, { name: 'status', columns: ['status'] },
  ], 'count(*)::int AS count, (count(*) FILTER (WHERE is_new))::int AS new, (count(*) FILTER (WHERE opted_out))::int AS opted_out');
  const totals = groups.get('total')![0];
  const total = num(totals?.count);
  const { rows } = (await (db as Knex).raw(`
    WITH interactions AS (
      SELECT patient_id FROM messages
        WHERE organization_id = ? AND created_at >= ? AND created_at < ? AND direction = 'inbound' AND patient_id IS NOT NULL
      UNION ALL
      SELECT patient_id FROM appointments WHERE organization_id = ? AND start_time >= ? AND start_time < ?
    ), per_patient AS (
      SELECT i.patient_id, count(*) AS n FROM interactions i
        JOIN patients p ON p.id = i.patient_id AND p.organization_id = ? AND p.created_at < ? AND p.deleted_at IS NULL
        GROUP BY i.patient_id
    )
    SELECT count(*)::int AS active,
      (count(*) FILTER (WHERE n >= ${ENGAGEMENT.high}))::int AS high,
      (count(*) FILTER (WHERE n >= ${ENGAGEMENT.moderate} AND n < ${ENGAGEMENT.high}))::int AS moderate
    FROM per_patient`, [orgId, period.start, period.end, orgId, period.start, period.end, orgId, period.end])) as { rows: Array<{ active: number; high: number; moderate: number }> };
  const active = num(rows[0]?.active);
  const high = num(rows[0]?.high);
  const moderate = num(rows[0]?.moderate);
  return {
    total,
    new: num(totals?.new),
    active,
    optedOut: num(totals?.opted_out),
    byLanguage: shares(groups.get('language')!, 'language', total),
    byStatus: shares(groups.get('status')!, 'status', total),
    newByInterval: series(period, groups.get('bucket')!, (r) => ({ count: num(r?.count) })),
    engagement: { highly_engaged: high, moderately_engaged: moderate, low_engagement: active - high - moderate, inactive: total - active },
  };
}

// ---- messages ----

export interface MessageCounts { received: number; sent: number; failed: number; pending: number }

/** Messages created in [start, end): received from patients; sent (sent, delivered or read), failed and still pending outbound. */
export async function messageCounts(db: Db, scope: OrgScope, range: { start: Date; end: Date }): Promise<MessageCounts> {
  const row = (await (db as Knex)('messages')
    .where('organization_id', scope.organizationId).where('created_at', '>=', range.start).where('created_at', '<', range.end)
    .first((db as Knex).raw(`(count(*) FILTER (WHERE direction = 'inbound'))::int AS received,
      (count(*) FILTER (WHERE direction = 'outbound' AND status IN ('sent', 'delivered', 'read')))::int AS sent,
      (count(*) FILTER (WHERE direction = 'outbound' AND status = 'failed'))::int AS failed,
      (count(*) FILTER (WHERE direction = 'outbound' AND status IN ('queued', 'sending')))::int AS pending`))) as Record<string, unknown> | undefined;
  return { received: num(row?.received), sent: num(row?.sent), failed: num(row?.failed), pending: num(row?.pending) };
}

export interface CallCounts { total: number; completed: number; failed: number; averageDurationSeconds: number | null }

/** Phone calls started in [start, end): completed, failed (busy, no-answer, failed, canceled), and the mean length of the completed ones. */
export async function callCounts(db: Db, scope: OrgScope, range: { start: Date; end: Date }): Promise<CallCounts> {
  const row = (await (db as Knex)('calls').where('organization_id', scope.organizationId)
    .where('started_at', '>=', range.start).where('started_at', '<', range.end)
    .first((db as Knex).raw(`count(*)::int AS total, (count(*) FILTER (WHERE status = 'completed'))::int AS completed,
      (count(*) FILTER (WHERE status IN ('busy', 'failed', 'no-answer', 'canceled')))::int AS failed,
      round(avg(duration_seconds) FILTER (WHERE status = 'completed'))::int AS average`))) as { total: number; completed: number; failed: number; average: number | null };
  return { total: row.total, completed: row.completed, failed: row.failed, averageDurationSeconds: row.average };
}
