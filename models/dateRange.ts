/**
 * Date filters as the API takes them (start_date, end_date): a date-only
 * value is a whole day of the clinic's time zone, as staff mean it; a
 * date-time is that instant. Bounds come back as [start, end): the end is
 * exclusive (the next local midnight, or the instant plus one millisecond).
 */
import { DateTime } from 'luxon';
import type { Db, OrgScope } from './base.js';
import { getOrganization } from './organizations.js';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

export interface DateBounds {
  start?: Date;
  /** Exclusive. */
  end?: Date;
}

function localDay(value: string, timeZone: string): DateTime {
  return DateTime.fromISO(value, { zone: timeZone }).startOf('day');
}

/** Bounds in `timeZone` (IANA). */
export function dateBounds(startDate: string | undefined, endDate: string | undefined, timeZone: string): DateBounds {
  return {
    start: startDate === undefined ? undefined : DATE_ONLY.test(startDate) ? localDay(startDate, timeZone).toJSDate() : new Date(startDate),
    end: endDate === undefined ? undefined
      : DATE_ONLY.test(endDate) ? localDay(endDate, timeZone).plus({ days: 1 }).toJSDate() : new Date(Date.parse(endDate) + 1),
  };
}

/** Bounds in the organization's time zone, read only when a date-only value needs it. */
export async function orgDateBounds(db: Db, scope: OrgScope, startDate: string | undefined, endDate: string | undefined): Promise<DateBounds> {
  const needsZone = [startDate, endDate].some((v) => v !== undefined && DATE_ONLY.test(v));
  const timeZone = needsZone ? (await getOrganization(db, scope.organizationId)).time_zone : 'UTC';
  return dateBounds(startDate, endDate, timeZone);
}
