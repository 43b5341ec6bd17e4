/**
 * The admin dashboard (VAANI "Dashboard Metrics", Attune's booking counts):
 * what a clinic's staff look at during the day. "Today" is the local day of
 * the organization's time zone; every figure is one indexed, organization
 * scoped aggregate.
 */
import type { Knex } from 'knex';
import type { Db, OrgScope } from './base.js';
import { localToday, organizationTimeZone } from './analyticsPeriod.js';
import { STATUS_MEASURES, callCounts, messageCounts, statusCounts, type CallCounts, type MessageCounts, type StatusCounts } from './analytics.js';
import { TICKET_PRIORITIES } from './tickets.js';

export const UPCOMING_DAYS = 7;

export interface Dashboard {
  date: string;
  timeZone: string;
  today: {
    /** Appointments starting today, by status. */
    appointments: { total: number } & StatusCounts;
    /** Appointments made today, whenever they start. */
    appointmentsBooked: number;
    messages: MessageCounts;
    newConversations: number;
    newPatients: number;
    /** Phone calls started today. */
    calls: CallCounts;
  };
  /** Scheduled or confirmed appointments starting from now to UPCOMING_DAYS days ahead. */
  upcomingAppointments: number;
  conversations: { open: number; withBot: number; waitingForStaff: number; unassignedHandoffs: number };
  tickets: { open: number; inProgress: number; urgent: number; byPriority: Record<(typeof TICKET_PRIORITIES)[number], number> };
}

const int = (v: unknown): number => Number(v ?? 0);
type Counts = Record<string, unknown>;

export async function dashboard(db: Db, scope: OrgScope, now: Date): Promise<Dashboard> {
  const knex = db as Knex;
  const orgId = scope.organizationId;
  const timeZone = await organizationTimeZone(db, scope);
  const today = localToday(timeZone, now);
  const weekAhead = new Date(now.getTime() + UPCOMING_DAYS * 86_400_000);
  const [appointments, upcoming, booked, messages, conversations, newConversations, newPatients, tickets, calls] = await Promise.all([
    knex('appointments').where('organization_id', orgId).where('start_time', '>=', today.start).where('start_time', '<', today.end)
      .first(knex.raw(`count(*)::int AS total, ${STATUS_MEASURES}`)),
    knex('appointments').where('organization_id', orgId).where('start_time', '>=', now).where('start_time', '<', weekAhead)
      .whereIn('status', ['scheduled', 'confirmed']).first(knex.raw('count(*)::int AS count')),
    // Bookings must start in the future, so one made today starts after today's midnight: that
    // bound lets (organization_id, start_time) find them without an index on created_at.
    knex('appointments').where('organization_id', orgId).where('start_time', '>=', today.start)
      .where('created_at', '>=', today.start).where('created_at', '<', today.end).first(knex.raw('count(*)::int AS count')),
    messageCounts(db, scope, today),
    // The predicate of the partial index conversations_open_unique.
    knex('conversations').where('organization_id', orgId).whereNot('status', 'closed').whereNull('deleted_at')
      .first(knex.raw(`count(*)::int AS open, (count(*) FILTER (WHERE status = 'bot'))::int AS bot,
        (count(*) FILTER (WHERE status = 'handoff'))::int AS handoff,
        (count(*) FILTER (WHERE status = 'handoff' AND assignee_user_id IS NULL))::int AS unassigned`)),
    knex('conversations').where('organization_id', orgId).where('created_at', '>=', today.start).where('created_at', '<', today.end)
      .whereNull('deleted_at').first(knex.raw('count(*)::int AS count')),
    knex('patients').where('organization_id', orgId).where('created_at', '>=', today.start).where('created_at', '<', today.end)
      .whereNull('deleted_at').first(knex.raw('count(*)::int AS count')),
    knex('tickets').where('organization_id', orgId).whereIn('status', ['open', 'in_progress'])
      .first(knex.raw(`count(*)::int AS total, (count(*) FILTER (WHERE status = 'in_progress'))::int AS in_progress,
        ${TICKET_PRIORITIES.map((p) => `(count(*) FILTER (WHERE priority = '${p}'))::int AS ${p}`).join(', ')}`)),
    callCounts(db, scope, today),
  ]) as [Counts, Counts, Counts, MessageCounts, Counts, Counts, Counts, Counts, CallCounts];
  const byPriority = Object.fromEntries(TICKET_PRIORITIES.map((p) => [p, int(tickets[p])])) as Dashboard['tickets']['byPriority'];
  return {
    date: today.date,
    timeZone,
    today: {
      appointments: { total: int(appointments.total), ...statusCounts(appointments) },
      appointmentsBooked: int(booked.count),
      messages,
      newConversations: int(newConversations.count),
      newPatients: int(newPatients.count),
      calls,
    },
    upcomingAppointments: int(upcoming.count),
    conversations: { open: int(conversations.open), withBot: int(conversations.bot), waitingForStaff: int(conversations.handoff), unassignedHandoffs: int(conversations.unassigned) },
    tickets: { open: int(tickets.total), inProgress: int(tickets.in_progress), urgent: byPriority.urgent, byPriority },
  };
}
