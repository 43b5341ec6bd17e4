/**
 * Weekly working hours (`{"monday": ["09:00-13:00", "14:00-18:00"], ...}`, the
 * VAANI format) and their conversion to real instants on a given local date in
 * an IANA zone, correctly across daylight-saving changes.
 */
import { DateTime, IANAZone } from 'luxon';
import type { FieldError } from '../lib/errors.js';

export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export type WorkingHours = Record<Weekday, string[]>;

/** An interval of real time, [start, end) in epoch milliseconds. */
export interface Window { start: number; end: number }

const RANGE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$/;

/** "09:00-13:00" -> minutes since local midnight, or null when malformed. "24:00" may end a range. */
export function parseRange(range: string): { from: number; to: number } | null {
  const m = RANGE.exec(range);
  if (!m) return null;
  const from = Number(m[1]) * 60 + Number(m[2]);
  const to = Number(m[3]) * 60 + Number(m[4]);
  if (to > 24 * 60) return null;
  return { from, to };
}

const zoneValidity = new Map<string, boolean>();

export function isValidZone(zone: string): boolean {
  let valid = zoneValidity.get(zone);
  if (valid === undefined) {
    valid = IANAZone.isValidZone(zone);
    remember(zoneValidity, zone, valid);
  }
  return valid;
}

/**
 * Validates a working-hours object and normalizes it (all seven days, ranges
 * sorted). Errors name the exact element, e.g. `working_hours.monday[1]`.
 */
export function validateWorkingHours(input: unknown, field = 'working_hours'): { value: WorkingHours; errors: FieldError[] } {
  const value = Object.fromEntries(WEEKDAYS.map((d) => [d, [] as string[]])) as WorkingHours;
  const errors: FieldError[] = [];
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    return { value, errors: [{ field, message: 'must be an object keyed by weekday (monday..sunday)' }] };
  }
  for (const [rawDay, ranges] of Object.entries(input as Record<string, unknown>)) {
    const day = rawDay.toLowerCase() as Weekday;
    if (!WEEKDAYS.includes(day)) {
      errors.push({ field: `${field}.${rawDay}`, message: `unknown weekday; use ${WEEKDAYS.join(', ')}` });
      continue;
    }
    if (ranges === null) continue;
    if (!Array.isArray(ranges)) {
      errors.push({ field: `${field}.${rawDay}`, message: 'must be an array of "HH:MM-HH:MM" ranges' });
      continue;
    }
    const parsed: Array<{ from: number; to: number; text: string; index: number }> = [];
    ranges.forEach((r, index) => {
      const at = `${field}.${rawDay}[${index}]`;
      const p = typeof r === 'string' ? parseRange(r) : null;
      if (!p) errors.push({ field: at, message: 'must be a range "HH:MM-HH:MM", e.g. "09:00-13:00"' });
      else if (p.from >= p.to) errors.push({ field: at, message: 'start must be before end' });
      else parsed.push({ ...p, text: r as string, index });
    });
    parsed.sort((a, b) => a.from - b.from);
    for (let i = 1; i < parsed.length; i++) {
      if (parsed[i].from < parsed[i - 1].to) {
        const later = parsed[i].index > parsed[i - 1].index ? parsed[i] : parsed[i - 1];
        const other = later === parsed[i] ? parsed[i - 1] : parsed[i];
        errors.push({ field: `${field}.${rawDay}[${later.index}]`, message: `overlaps ${other.text}` });
      }
    }
    value[day] = parsed.map((p) => p.text);
  }
  return { value, errors };
}

/**
 * The hours of several weekly timetables together, per weekday, overlapping
 * and touching ranges merged ("09:00-14:00" and "13:00-18:00" are
 * "09:00-18:00"): when a clinic whose timetable is its doctors' sees patients.
 * Malformed ranges are skipped.
 */
export function mergeWeeklyHours(list: readonly (Partial<WorkingHours> | null | undefined)[]): WorkingHours {
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const merged = {} as WorkingHours;
  for (const day of WEEKDAYS) {
    const ranges = list.flatMap((hours) => (hours?.[day] ?? []).map(parseRange)).filter((r): r is { from: number; to: number } => r !== null && r.from < r.to);
    ranges.sort((a, b) => a.from - b.from);
    const out: { from: number; to: number }[] = [];
    for (const r of ranges) {
      const last = out[out.length - 1];
      if (last && r.from <= last.to) last.to = Math.max(last.to, r.to);
      else out.push({ ...r });
    }
    merged[day] = out.map((r) => `${hhmm(r.from)}-${hhmm(r.to)}`);
  }
  return merged;
}

/** The weekday key of a local calendar date (YYYY-MM-DD). */
export function weekdayOf(date: string): Weekday {
  // Date arithmetic in UTC is exact for calendar dates and far cheaper than luxon on the slot path.
  const midnight = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(midnight)) return WEEKDAYS[DateTime.fromISO(date, { zone: 'UTC' }).weekday - 1];
  return WEEKDAYS[(new Date(midnight).getUTCDay() + 6) % 7];
}

/** The ranges of one calendar date. */
export function rangesOn(hours: Partial<WorkingHours> | null | undefined, date: string): string[] {
  return hours?.[weekdayOf(date)] ?? [];
}

/**
 * The instant at which a local wall time happens on a date. A wall time that
 * happens twice (clocks go back) resolves to the earlier occurrence for a
 * range start and the later one for a range end, so the range covers the
 * repeated hour; one that never happens (clocks go forward) resolves to the
 * moment of the jump.
 */
export function wallTimeToInstant(date: string, minutes: number, zone: string, edge: 'start' | 'end'): number {
  // Pure and asked for the same few values on every slot search: remembered (luxon's zone math is costly).
  const key = `${zone}|${date}|${minutes}|${edge}`;
  let instant = instants.get(key);
  if (instant === undefined) {
    instant = computeWallTimeToInstant(date, minutes, zone, edge);
    remember(instants, key, instant);
  }
  return instant;
}

const MEMO_MAX = 20_000;
const instants = new Map<string, number>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MEMO_MAX) map.clear();
  map.set(key, value);
}

/** Offsets are remembered per quarter hour of real time (see offsetAt). */
const OFFSET_BUCKET_MS = 15 * 60_000;
const offsetsByZone = new Map<string, Map<number, number>>();

/**
 * The zone's UTC offset in minutes at an instant. A quarter hour whose first
 * and last milliseconds have the same offset has it throughout (a transition
 * inside would differ at one end), so that one value answers every instant in
 * it: a slot search, a turn's "now" and a day's slots all land in a few
 * remembered quarters instead of asking luxon (Intl) per instant.
 */
function offsetAt(instant: number, zone: string): number {
  let byBucket = offsetsByZone.get(zone);
  if (!byBucket) offsetsByZone.set(zone, (byBucket = new Map()));
  const bucket = Math.floor(instant / OFFSET_BUCKET_MS);
  let offset = byBucket.get(bucket);
  if (offset === undefined) {
    const z = IANAZone.create(zone);
    const first = z.offset(bucket * OFFSET_BUCKET_MS);
    offset = first === z.offset((bucket + 1) * OFFSET_BUCKET_MS - 1) ? first : NaN;
    if (byBucket.size >= MEMO_MAX) byBucket.clear();
    byBucket.set(bucket, offset);
  }
  // NaN: the quarter holds a transition (a zone's odd historical one): asked exactly.
  return Number.isNaN(offset) ? IANAZone.create(zone).offset(instant) : offset;
}

/** The wall-clock fields of an instant in a zone (UTC getters of the shifted instant). */
function wallClock(instant: number, zone: string): Date {
  return new Date(instant + offsetAt(instant, zone) * 60_000);
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** The local hour (0-23) of an instant. */
export function localHour(instant: number, zone: string): number {
  return wallClock(instant, zone).getUTCHours();
}

function computeWallTimeToInstant(date: string, minutes: number, zone: string, edge: 'start' | 'end'): number {
  const z = IANAZone.create(zone);
  const naive = DateTime.fromISO(date, { zone: 'UTC' }).plus({ minutes }).toMillis();
  const day = 24 * 3600_000;
  const offsets = [...new Set([z.offset(naive - day), z.offset(naive + day)])];
  const valid = offsets.map((o) => naive - o * 60_000).filter((t) => z.offset(t) * 60_000 === naive - t);
  if (valid.length) return edge === 'start' ? Math.min(...valid) : Math.max(...valid);
  // In a gap: find the transition between the two candidates (minute precision).
  let lo = Math.min(...offsets.map((o) => naive - o * 60_000));
  let hi = Math.max(...offsets.map((o) => naive - o * 60_000));
  const before = z.offset(lo);
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
    if (z.offset(mid) === before) lo = mid; else hi = mid;
  }
  return hi;
}

/** Working windows of a local date as real intervals; touching ranges merge. */
export function dayWindows(hours: Partial<WorkingHours> | null | undefined, date: string, zone: string): Window[] {
  const windows = rangesOn(hours, date)
    .map(parseRange)
    .filter((r): r is { from: number; to: number } => r !== null && r.from < r.to)
    .map((r) => ({ start: wallTimeToInstant(date, r.from, zone, 'start'), end: wallTimeToInstant(date, r.to, zone, 'end') }))
    .filter((w) => w.end > w.start)
    .sort((a, b) => a.start - b.start);
  const merged: Window[] = [];
  for (const w of windows) {
    const last = merged[merged.length - 1];
    if (last && w.start <= last.end) last.end = Math.max(last.end, w.end);
    else merged.push({ ...w });
  }
  return merged;
}

/** The local calendar date (YYYY-MM-DD) of an instant. */
export function localDate(instant: Date | number, zone: string): string {
  if (!isValidZone(zone)) return DateTime.fromMillis(typeof instant === 'number' ? instant : instant.getTime(), { zone }).toISODate() as string;
  const d = wallClock(typeof instant === 'number' ? instant : instant.getTime(), zone);
  const y = d.getUTCFullYear();
  if (y < 1 || y > 9999) return DateTime.fromMillis(d.getTime(), { zone: 'UTC' }).toISODate() as string;
  return `${String(y).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** Local "HH:MM" of an instant. */
export function localTime(instant: Date | number, zone: string): string {
  if (!isValidZone(zone)) return DateTime.fromMillis(typeof instant === 'number' ? instant : instant.getTime(), { zone }).toFormat('HH:mm');
  const d = wallClock(typeof instant === 'number' ? instant : instant.getTime(), zone);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
}

/** Whether [start, end) lies inside one working window of the local date it starts on. */
export function withinWorkingHours(hours: Partial<WorkingHours> | null | undefined, start: Date, end: Date, zone: string): boolean {
  const windows = dayWindows(hours, localDate(start, zone), zone);
  return windows.some((w) => w.start <= start.getTime() && end.getTime() <= w.end);
}

/** The calendar date `days` after a YYYY-MM-DD date. */
export function addDays(date: string, days: number): string {
  const midnight = Date.parse(`${date}T00:00:00Z`);
  const iso = Number.isNaN(midnight) ? '' : new Date(midnight + days * 86_400_000).toISOString();
  // Years outside 0000-9999 print differently: luxon's form then.
  return iso.length === 24 ? iso.slice(0, 10) : DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate() as string;
}

/** Real instant of local midnight starting a date. */
export function startOfLocalDay(date: string, zone: string): number {
  return wallTimeToInstant(date, 0, zone, 'start');
}
