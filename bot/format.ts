/**
 * Dates and times as the bot writes them, per language, in the clinic's time zone:
 * "Tuesday 25 November, 10:30", "martes 25 de noviembre, 10:30",
 * "dimarts 25 de novembre, 10:30", "मंगलवार 25 नवंबर, 10:30".
 */
import { DateTime } from 'luxon';
import type { Lang } from './understanding/types.js';
import { memoByKey } from '../lib/memo.js';

/** Catalan elides "de" before a vowel: "d'abril", "d'agost", "d'octubre". */
function catalanMonth(month: string): string {
  return /^[aeiouàèéíòóú]/i.test(month) ? `d'${month}` : `de ${month}`;
}

/** A weekday, day, month and 24-hour time; an unparsable instant is returned as given. */
export function formatDateTime(iso: string | Date, lang: Lang, timeZone: string): string {
  const ms = iso instanceof Date ? iso.getTime() : Date.parse(iso);
  // The same offered slots are written turn after turn: remembered per instant, language and zone.
  return Number.isNaN(ms) ? computeDateTime(iso, lang, timeZone) : rememberedDateTime(`${ms}|${lang}|${timeZone}`);
}

const rememberedDateTime = memoByKey(20_000, (key) => {
  const [ms, lang, zone] = key.split('|');
  return computeDateTime(new Date(Number(ms)), lang as Lang, zone);
});

function computeDateTime(iso: string | Date, lang: Lang, timeZone: string): string {
  const dt = (iso instanceof Date ? DateTime.fromJSDate(iso) : DateTime.fromISO(iso)).setZone(timeZone).setLocale(lang);
  if (!dt.isValid) return String(iso);
  return `${dayText(dt, lang)}, ${dt.toFormat('HH:mm')}`;
}

/** A calendar date (YYYY-MM-DD) as the bot writes days: "Friday 27 November", "viernes 27 de noviembre". */
export function formatDay(isoDate: string, lang: Lang): string {
  const dt = DateTime.fromISO(isoDate, { zone: 'UTC' }).setLocale(lang);
  return dt.isValid ? dayText(dt, lang) : isoDate;
}

function dayText(dt: DateTime, lang: Lang): string {
  const weekday = dt.toFormat('cccc');
  const day = dt.toFormat('d');
  const month = dt.toFormat('LLLL');
  switch (lang) {
    case 'es': return `${weekday} ${day} de ${month}`;
    case 'ca': return `${weekday} ${day} ${catalanMonth(month)}`;
    default: return `${weekday} ${day} ${month}`;
  }
}

/** YYYY-MM-DD HH:mm in the clinic's zone, for staff-facing summaries. */
export function formatLocalShort(iso: string | Date, timeZone: string): string {
  const dt = (iso instanceof Date ? DateTime.fromJSDate(iso) : DateTime.fromISO(iso)).setZone(timeZone);
  return dt.isValid ? dt.toFormat('yyyy-MM-dd HH:mm') : String(iso);
}
