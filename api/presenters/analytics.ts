/**
 * What leaves the API about analytics and the dashboard: Mark Assistant's
 * statistics shapes and VAANI's dashboard and period analytics, in our
 * envelope. Percentages and rates are 0-100 with one decimal.
 */
import { z } from 'zod';
import type { AppointmentStats, CallCounts, ConversationStats, MessageCounts, PatientStats, Share, StatusCounts } from '../../models/analytics.js';
import { INTERVALS, percent, type Period } from '../../models/analyticsPeriod.js';
import type { Dashboard } from '../../models/dashboard.js';
import { UPCOMING_DAYS } from '../../models/dashboard.js';
import { APPOINTMENT_STATUSES } from '../../models/appointmentQueries.js';

const int = z.number().int();
const pct = (what: string) => z.number().min(0).max(100).describe(`${what}: a percentage, 0-100 with one decimal`);

export const periodSchema = z.object({
  start: z.iso.date().describe('First local date of the range (organization time zone)'),
  end: z.iso.date().describe('Last local date of the range, inclusive'),
  start_time: z.string().describe('The range as instants: from (inclusive, UTC)'),
  end_time: z.string().describe('To (exclusive, UTC)'),
  time_zone: z.string().describe('The organization\'s IANA time zone: dates, buckets and hours are local to it'),
});
const seriesPeriodSchema = periodSchema.extend({ interval: z.enum(INTERVALS).describe('Bucket of by_interval: day, ISO week (from Monday) or month') });

const shareSchema = <K extends string>(key: K, what: string) =>
  z.object({ [key]: z.string(), count: int, percentage: pct(`Share of ${what}`) } as { [P in K]: z.ZodString } & { count: typeof int; percentage: z.ZodNumber });
const statusCountsShape = Object.fromEntries(APPOINTMENT_STATUSES.map((s) => [s, int])) as Record<(typeof APPOINTMENT_STATUSES)[number], typeof int>;

export const conversationAnalyticsSchema = z.object({
  period: seriesPeriodSchema,
  total_conversations: int.describe('Conversations started in the range'),
  average_length: z.number().describe('Mean number of messages per conversation'),
  escalated_conversations: int.describe('Conversations handed to staff at some point'),
  handoff_rate: pct('Conversations handed to staff (escalated)'),
  by_interval: z.array(z.object({ interval: z.iso.date().describe('Local date the bucket starts on'), count: int, average_length: z.number() }))
    .describe('Every bucket of the range, oldest first, zeros included'),
  by_language: z.array(shareSchema('language', 'conversations')).describe('"unknown" when the language was not detected'),
  by_channel: z.array(shareSchema('channel', 'conversations')),
  by_status: z.array(shareSchema('status', 'conversations')).describe('Current status: bot, handoff or closed'),
  by_sentiment: z.array(shareSchema('sentiment', 'conversations')).describe('"unknown" when no sentiment was recorded'),
  top_intents: z.array(shareSchema('intent', 'conversations')).describe('The ten most frequent recognized intents'),
  by_hour: z.array(z.object({ hour: int.min(0).max(23).describe('Local hour the conversation started in'), count: int })).describe('Hours 0-23'),
});

export const appointmentAnalyticsSchema = z.object({
  period: seriesPeriodSchema,
  total_appointments: int.describe('Appointments whose start falls in the range, whatever their status'),
  by_status: z.array(z.object({ status: z.enum(APPOINTMENT_STATUSES), count: int, percentage: pct('Share of appointments') })).describe('Every status, zeros included'),
  no_show_rate: pct('no_show / (completed + no_show): of the appointments whose attendance was recorded'),
  cancellation_rate: pct('cancelled / total'),
  completion_rate: pct('completed / total'),
  by_type: z.array(shareSchema('type', 'appointments')),
  by_source: z.array(shareSchema('source', 'appointments')).describe('Who booked: the channel of a bot booking (sms, whatsapp, web...), or what the API caller gave (api by default)'),
  booked_through: z.object({
    bot: int.describe('Booked by the patient in a conversation with the bot'),
    api: int.describe('Booked by staff or an integrator through the API'),
  }),
  by_interval: z.array(z.object({ interval: z.iso.date(), total: int, ...statusCountsShape })).describe('Every bucket of the range, oldest first, zeros included'),
  by_doctor: z.array(z.object({ doctor_id: z.string(), doctor_name: z.string(), specialization: z.string(), total: int, ...statusCountsShape })),
  by_specialization: z.array(shareSchema('specialization', 'appointments')),
  cancellation_reasons: z.array(shareSchema('reason', 'cancelled appointments')).describe('The ten most frequent; "Not given" when none was recorded'),
});

export const patientAnalyticsSchema = z.object({
  period: seriesPeriodSchema,
  total_patients: int.describe('Patients registered before the end of the range (deleted ones left out)'),
  new_patients: int.describe('Registered in the range'),
  active_patients: int.describe('Wrote to the clinic or had an appointment in the range'),
  opted_out_patients: int.describe('Of the total, those who opted out of messages'),
  by_language: z.array(shareSchema('language', 'patients')).describe('Preferred language'),
  by_status: z.array(shareSchema('status', 'patients')),
  new_patients_by_interval: z.array(z.object({ interval: z.iso.date(), count: int })).describe('Every bucket of the range, zeros included'),
  engagement: z.object({
    highly_engaged: int.describe('10 or more interactions (inbound messages plus appointments) in the range'),
    moderately_engaged: int.describe('3 to 9'),
    low_engagement: int.describe('1 or 2'),
    inactive: int.describe('None'),
  }),
});

const messageCountsSchema = z.object({
  received: int.describe('From patients'),
  sent: int.describe('Outbound and accepted by the provider (sent, delivered or read)'),
  failed: int.describe('Outbound that could not be delivered'),
  pending: int.describe('Outbound still queued or being sent'),
});

const callsSchema = z.object({
  total: int,
  completed: int,
  failed: int.describe('Busy, unanswered, failed or cancelled'),
  average_duration_seconds: int.nullable().describe('Of the completed calls; null when there is none'),
});

const presentCalls = (c: CallCounts): z.infer<typeof callsSchema> => ({
  total: c.total, completed: c.completed, failed: c.failed, average_duration_seconds: c.averageDurationSeconds,
});

export const dashboardSchema = z.object({
  date: z.iso.date().describe('Today in the organization\'s time zone'),
  time_zone: z.string(),
  generated_at: z.string(),
  today: z.object({
    appointments: z.object({ total: int, ...statusCountsShape }).describe('Appointments starting today, by status'),
    appointments_booked: int.describe('Appointments booked today, whenever they start'),
    messages: messageCountsSchema.describe('Messages of today'),
    new_conversations: int,
    new_patients: int,
    calls: callsSchema.describe('Phone calls started today (VAANI: total_calls, completed_calls, failed_calls, average_call_duration)'),
  }),
  upcoming_appointments: z.object({ days: int, count: int.describe('Scheduled or confirmed appointments from now to `days` days ahead') }),
  conversations: z.object({
    open: int.describe('Not closed'),
    with_bot: int,
    waiting_for_staff: int.describe('Handed off to staff'),
    unassigned_handoffs: int.describe('Handed off with nobody assigned'),
  }),
  tickets: z.object({
    open: int.describe('Open or in progress'),
    in_progress: int,
    urgent: int.describe('Open or in progress with priority urgent'),
    by_priority: z.object({ low: int, medium: int, high: int, urgent: int }).describe('Of the open or in progress'),
  }),
});

export const ADMIN_METRICS = ['appointments', 'conversations', 'patients', 'messages', 'calls'] as const;
export type AdminMetric = (typeof ADMIN_METRICS)[number];

export const adminAnalyticsSchema = z.object({
  period: periodSchema,
  appointments: z.object({
    total_booked: int.describe('Appointments whose start falls in the period'),
    ...statusCountsShape,
    no_show_rate: pct('no_show / (completed + no_show)'),
    cancellation_rate: pct('cancelled / total'),
    booked_through_bot: int,
  }).optional(),
  conversations: z.object({
    total: int, escalated: int, handoff_rate: pct('Handed to staff'), average_messages: z.number(),
  }).optional(),
  languages: z.record(z.string(), int).optional().describe('Conversations by language ("unknown" when not detected); with metric conversations'),
  patients: z.object({ total: int, new: int, active: int, opted_out: int }).optional(),
  messages: messageCountsSchema.optional(),
  calls: callsSchema.optional().describe('Phone calls started in the period'),
}).describe("Every section unless `metric` names one; the VAANI document's latency metrics are left out (speech is recognized by Twilio, not timed here)");

const renameShares = <K extends string>(key: K, list: Share[]) =>
  list.map((s) => ({ [key]: s.key, count: s.count, percentage: s.percentage }) as { [P in K]: string } & { count: number; percentage: number });

export function presentPeriod(p: Period): z.infer<typeof periodSchema> {
  return { start: p.startDate, end: p.endDate, start_time: p.start.toISOString(), end_time: p.end.toISOString(), time_zone: p.timeZone };
}
const presentSeriesPeriod = (p: Period) => ({ ...presentPeriod(p), interval: p.interval });

export function presentConversationAnalytics(p: Period, s: ConversationStats): z.infer<typeof conversationAnalyticsSchema> {
  return {
    period: presentSeriesPeriod(p),
    total_conversations: s.total,
    average_length: s.averageLength,
    escalated_conversations: s.escalated,
    handoff_rate: s.handoffRate,
    by_interval: s.byInterval,
    by_language: renameShares('language', s.byLanguage),
    by_channel: renameShares('channel', s.byChannel),
    by_status: renameShares('status', s.byStatus),
    by_sentiment: renameShares('sentiment', s.bySentiment),
    top_intents: renameShares('intent', s.topIntents),
    by_hour: s.byHour,
  };
}

const pick = (c: StatusCounts): StatusCounts => Object.fromEntries(APPOINTMENT_STATUSES.map((k) => [k, c[k]])) as StatusCounts;

export function presentAppointmentAnalytics(p: Period, s: AppointmentStats): z.infer<typeof appointmentAnalyticsSchema> {
  return {
    period: presentSeriesPeriod(p),
    total_appointments: s.total,
    by_status: APPOINTMENT_STATUSES.map((status) => ({ status, count: s.byStatus[status], percentage: percent(s.byStatus[status], s.total) })),
    no_show_rate: s.noShowRate,
    cancellation_rate: s.cancellationRate,
    completion_rate: s.completionRate,
    by_type: renameShares('type', s.byType),
    by_source: renameShares('source', s.bySource),
    booked_through: { bot: s.bookedThrough.bot, api: s.bookedThrough.api },
    by_interval: s.byInterval.map((b) => ({ interval: b.interval, total: b.total, ...pick(b) })),
    by_doctor: s.byDoctor.map((d) => ({ doctor_id: d.doctor_id, doctor_name: d.doctor_name, specialization: d.specialization, total: d.total, ...pick(d) })),
    by_specialization: renameShares('specialization', s.bySpecialization),
    cancellation_reasons: renameShares('reason', s.cancellationReasons),
  };
}

export function presentPatientAnalytics(p: Period, s: PatientStats): z.infer<typeof patientAnalyticsSchema> {
  return {
    period: presentSeriesPeriod(p),
    total_patients: s.total,
    new_patients: s.new,
    active_patients: s.active,
    opted_out_patients: s.optedOut,
    by_language: renameShares('language', s.byLanguage),
    by_status: renameShares('status', s.byStatus),
    new_patients_by_interval: s.newByInterval,
    engagement: { ...s.engagement },
  };
}

const presentMessages = (m: MessageCounts) => ({ received: m.received, sent: m.sent, failed: m.failed, pending: m.pending });

export function presentDashboard(d: Dashboard, now: Date): z.infer<typeof dashboardSchema> {
  return {
    date: d.date,
    time_zone: d.timeZone,
    generated_at: now.toISOString(),
    today: {
      appointments: { total: d.today.appointments.total, ...pick(d.today.appointments) },
      appointments_booked: d.today.appointmentsBooked,
      messages: presentMessages(d.today.messages),
      new_conversations: d.today.newConversations,
      new_patients: d.today.newPatients,
      calls: presentCalls(d.today.calls),
    },
    upcoming_appointments: { days: UPCOMING_DAYS, count: d.upcomingAppointments },
    conversations: {
      open: d.conversations.open, with_bot: d.conversations.withBot,
      waiting_for_staff: d.conversations.waitingForStaff, unassigned_handoffs: d.conversations.unassignedHandoffs,
    },
    tickets: { open: d.tickets.open, in_progress: d.tickets.inProgress, urgent: d.tickets.urgent, by_priority: { ...d.tickets.byPriority } },
  };
}

export interface AdminAnalyticsParts {
  appointments?: AppointmentStats;
  conversations?: ConversationStats;
  patients?: PatientStats;
  messages?: MessageCounts;
  calls?: CallCounts;
}

export function presentAdminAnalytics(p: Period, parts: AdminAnalyticsParts): z.infer<typeof adminAnalyticsSchema> {
  const { appointments: a, conversations: c, patients: pt, messages: m, calls } = parts;
  return {
    period: presentPeriod(p),
    ...(a ? {
      appointments: {
        total_booked: a.total, ...pick(a.byStatus), no_show_rate: a.noShowRate, cancellation_rate: a.cancellationRate,
        booked_through_bot: a.bookedThrough.bot,
      },
    } : {}),
    ...(c ? {
      conversations: { total: c.total, escalated: c.escalated, handoff_rate: c.handoffRate, average_messages: c.averageLength },
      languages: Object.fromEntries(c.byLanguage.map((l) => [l.key, l.count])),
    } : {}),
    ...(pt ? { patients: { total: pt.total, new: pt.new, active: pt.active, opted_out: pt.optedOut } } : {}),
    ...(m ? { messages: presentMessages(m) } : {}),
    ...(calls ? { calls: presentCalls(calls) } : {}),
  };
}
