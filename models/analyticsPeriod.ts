/**
 * The period an analytics read covers, in the organization's time zone: a
 * half-open range of instants [start, end) cut at local midnights when the
 * caller gave dates, and the calendar buckets (day, ISO week, month) a time
 * series is grouped by. Pure: no database, the clock passed in.
 */
import { DateTime } from 'luxon';
import type { Knex } from 'knex';
import { fieldError } from '../lib/errors.js';
import type { Db, OrgScope } from './base.js';
import { dateBounds } from './dateRange.js';

export const INTERVALS = ['day', 'week', 'month'] as const;
export type Interval = (typeof INTERVALS)[number];

/** The longest range an analytics read accepts, in local calendar days. */
export const MAX_RANGE_DAYS = 366;
/** Without dates: the last 30 local days, today included. */
export const DEFAULT_RANGE_DAYS = 30;

export interface Period {
  /** Inclusive. */
  start: Date;
  /** Exclusive. */
  end: Date;
  timeZone: string;
  interval: Interval;
  /** The first and the last local calendar date the range touches. */
  startDate: string;
  endDate: string;
}

export interface PeriodInput {
  /** YYYY-MM-DD (local midnight) or an ISO date-time. */
  startDate?: string;
  /** YYYY-MM-DD (the whole local day) or an ISO date-time (inclusive). */
  endDate?: string;
  interval?: Interval;
}

/**
 * Resolves the requested range in `timeZone`; throws 400 naming end_date (or
 * start_date when end_date was not given) for an empty, reversed or too long range.
 */
export function resolvePeriod(timeZone: string, input: PeriodInput, now: Date): Period {
  const endInput = input.endDate;
  const given = dateBounds(input.startDate, endInput, timeZone);
  const end = given.end
    ? DateTime.fromJSDate(given.end, { zone: timeZone })
    : DateTime.fromJSDate(now, { zone: timeZone }).startOf('day').plus({ days: 1 });
  const start = given.start
    ? DateTime.fromJSDate(given.start, { zone: timeZone })
    : end.minus({ milliseconds: 1 }).startOf('day').minus({ days: DEFAULT_RANGE_DAYS - 1 });
  const blame = endInput === undefined ? 'start_date' : 'end_date';
  if (end <= start) throw fieldError(blame, endInput === undefined ? 'must not be after today' : 'must not be before start_date');
  // Calendar days in the zone: a range over a daylight-saving change is not an hour short or long.
  if (end.diff(start.startOf('day'), 'days').days > MAX_RANGE_DAYS) {
    throw fieldError(blame, `the range may cover at most ${MAX_RANGE_DAYS} days`);
  }
  return {
    start: start.toJSDate(), end: end.toJSDate(), timeZone, interval: input.interval ?? 'day',
    startDate: start.toISODate()!, endDate: end.minus({ milliseconds: 1 }).toISODate()!,
  };
}

/** The local calendar day containing `now`: [its midnight, the next midnight), 23 or 25 hours on a daylight-saving change. */
export function localToday(timeZone: string, now: Date): { date: string; start: Date; end: Date } {
  const day = DateTime.fromJSDate(now, { zone: timeZone }).startOf('day');
  return { date: day.toISODate()!, start: day.toJSDate(), end: day.plus({ days: 1 }).toJSDate() };
}

/** Every bucket label of the period in order (the local date a day, ISO week or month starts on), so a series has no gaps. */
export function bucketLabels(period: Period): string[] {
  const labels: string[] = [];
  const end = DateTime.fromJSDate(period.end, { zone: period.timeZone });
  for (let b = DateTime.fromJSDate(period.start, { zone: period.timeZone }).startOf(period.interval); b < end; b = b.plus({ [period.interval]: 1 })) {
    labels.push(b.toISODate()!);
  }
  return labels;
}

/**
 * SQL for the bucket label of a timestamptz column, the local date its day,
 * ISO week (Monday) or month starts on: the instant is turned into the
 * organization's wall-clock time first, so each row is placed by its own
 * UTC offset (correct across daylight-saving changes, on every PostgreSQL
 * version). Binds the time zone once.
 */
export function bucketSql(column: string, interval: Interval): string {
  if (!INTERVALS.includes(interval)) throw new Error(`unknown interval ${interval}`);
  return `to_char(date_trunc('${interval}', ${column} AT TIME ZONE ?::text), 'YYYY-MM-DD')`;
}

/** The organization's IANA time zone. */
export async function organizationTimeZone(db: Db, scope: OrgScope): Promise<string> {
  const row = await (db as Knex)('organizations').where({ id: scope.organizationId }).first('time_zone');
  return (row?.time_zone as string | undefined) ?? 'UTC';
}

/** The organization's time zone and the resolved period, for an analytics read. */
export async function loadPeriod(db: Db, scope: OrgScope, input: PeriodInput, now: Date): Promise<Period> {
  return resolvePeriod(await organizationTimeZone(db, scope), input, now);
}

/** part / whole as a percentage with one decimal; 0 when there is no whole. */
export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((part * 1000) / whole) / 10 : 0;
}

/** A mean with two decimals; 0 when there is nothing to average. */
export function mean(sum: number, count: number): number {
  return count > 0 ? Math.round((sum * 100) / count) / 100 : 0;
}
