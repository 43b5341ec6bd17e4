/**
 * /analytics (Mark Assistant statistics) and /admin/dashboard,
 * /admin/analytics (VAANI). Read only, for analytics.view (admin and staff).
 * Dates are read in the organization's time zone; without them a range is
 * the last 30 days, today included.
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { route } from '../http/route.js';
import { dateOrDateTime, languageInput } from '../schemas/common.js';
import {
  ADMIN_METRICS, adminAnalyticsSchema, appointmentAnalyticsSchema, conversationAnalyticsSchema, dashboardSchema, patientAnalyticsSchema,
  presentAdminAnalytics, presentAppointmentAnalytics, presentConversationAnalytics, presentDashboard, presentPatientAnalytics,
} from '../presenters/analytics.js';
import { appointmentStats, callCounts, conversationStats, messageCounts, patientStats } from '../../models/analytics.js';
import { DEFAULT_RANGE_DAYS, INTERVALS, MAX_RANGE_DAYS, loadPeriod, type Period } from '../../models/analyticsPeriod.js';
import type { OrgScope } from '../../models/base.js';
import { dashboard } from '../../models/dashboard.js';

const range = {
  start_date: dateOrDateTime.optional()
    .describe(`From this local date (its midnight in the organization's time zone) or instant; default ${DEFAULT_RANGE_DAYS - 1} days before end_date`),
  end_date: dateOrDateTime.optional()
    .describe(`To this local date (the whole day) or instant, inclusive; default today. At most ${MAX_RANGE_DAYS} days after start_date`),
};
const seriesQuery = {
  ...range,
  interval: z.enum(INTERVALS).default('day').describe('Bucket of the time series: day (default), week (ISO, from Monday) or month; `group_by` is accepted too'),
};
const aliases = { group_by: 'interval' };

type PeriodQuery = { start_date?: string; end_date?: string; interval?: (typeof INTERVALS)[number] };

/** The organization's scope and the period its query asks for (dates in its time zone). */
async function scopedPeriod(deps: { db: { knex: Knex }; clock: { now(): Date } }, orgId: string, q: PeriodQuery): Promise<{ scope: OrgScope; period: Period }> {
  const scope = { organizationId: orgId };
  return { scope, period: await loadPeriod(deps.db.knex, scope, { startDate: q.start_date, endDate: q.end_date, interval: q.interval }, deps.clock.now()) };
}

export const analyticsRoutes = [
  route({
    method: 'get', path: '/analytics/conversations', operationId: 'getConversationAnalytics', tag: 'analytics',
    permission: 'analytics.view', rateLimit: 'admin', errors: [400],
    summary: 'Conversation statistics: volume over time, by language, channel, status, hour, intent and sentiment; handoff rate',
    aliases, query: z.object({ ...seriesQuery, language: languageInput.optional().describe('Only conversations in this language') }),
    response: conversationAnalyticsSchema,
    handler: async ({ deps, orgId, query }) => {
      const { scope, period } = await scopedPeriod(deps, orgId, query);
      return { data: presentConversationAnalytics(period, await conversationStats(deps.db.knex, scope, period, { language: query.language })) };
    },
  }),
  route({
    method: 'get', path: '/analytics/appointments', operationId: 'getAppointmentAnalytics', tag: 'analytics',
    permission: 'analytics.view', rateLimit: 'admin', errors: [400],
    summary: 'Appointment statistics: by status, type, doctor, specialization and source over time; no-show and cancellation rates',
    aliases, query: z.object(seriesQuery), response: appointmentAnalyticsSchema,
    handler: async ({ deps, orgId, query }) => {
      const { scope, period } = await scopedPeriod(deps, orgId, query);
      return { data: presentAppointmentAnalytics(period, await appointmentStats(deps.db.knex, scope, period)) };
    },
  }),
  route({
    method: 'get', path: '/analytics/patients', operationId: 'getPatientAnalytics', tag: 'analytics',
    permission: 'analytics.view', rateLimit: 'admin', errors: [400],
    summary: 'Patient statistics: total, new, active and opted out; by language; new patients over time; engagement',
    aliases, query: z.object(seriesQuery), response: patientAnalyticsSchema,
    handler: async ({ deps, orgId, query }) => {
      const { scope, period } = await scopedPeriod(deps, orgId, query);
      return { data: presentPatientAnalytics(period, await patientStats(deps.db.knex, scope, period)) };
    },
  }),
  route({
    method: 'get', path: '/admin/dashboard', operationId: 'getAdminDashboard', tag: 'analytics', permission: 'analytics.view', rateLimit: 'admin',
    summary: 'Today at the clinic: appointments, bookings, messages, open conversations waiting for staff, open tickets',
    response: dashboardSchema,
    handler: async ({ deps, orgId }) => {
      const now = deps.clock.now();
      return { data: presentDashboard(await dashboard(deps.db.knex, { organizationId: orgId }, now), now) };
    },
  }),
  route({
    method: 'get', path: '/admin/analytics', operationId: 'getAdminAnalytics', tag: 'analytics',
    permission: 'analytics.view', rateLimit: 'admin', errors: [400],
    summary: 'Period analytics: appointments, conversations and languages, patients, messages, phone calls',
    query: z.object({ ...range, metric: z.enum(ADMIN_METRICS).optional().describe('Only this section (and the period)') }),
    response: adminAnalyticsSchema,
    handler: async ({ deps, orgId, query }) => {
      const db = deps.db.knex;
      const { scope, period } = await scopedPeriod(deps, orgId, query);
      const wants = (m: (typeof ADMIN_METRICS)[number]) => !query.metric || query.metric === m;
      const [appointments, conversations, patients, messages, calls] = await Promise.all([
        wants('appointments') ? appointmentStats(db, scope, period) : undefined,
        wants('conversations') ? conversationStats(db, scope, period) : undefined,
        wants('patients') ? patientStats(db, scope, period) : undefined,
        wants('messages') ? messageCounts(db, scope, period) : undefined,
        wants('calls') ? callCounts(db, scope, period) : undefined,
      ]);
      return { data: presentAdminAnalytics(period, { appointments, conversations, patients, messages, calls }) };
    },
  }),
];
