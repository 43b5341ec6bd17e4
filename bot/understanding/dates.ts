/** Dates, parts of day and times in patient messages, resolved against "now" in the organization's time zone. */
import { DateTime } from 'luxon';
import { memoByKey } from '../../lib/memo.js';
import { localDate } from '../../models/workingHours.js';
import { DAY_PHRASES, GREETINGS_WITH_TIME, IN_DAYS_PATTERNS, MONTHS, WEEKDAYS, type DayTag } from './dateWords.js';
import { normalize, words } from './normalize.js';
import { LANGS, type PartOfDay } from './types.js';

export interface When {
  date?: string; partOfDay?: PartOfDay; time?: string;
  /** "As soon as possible", "any day": the first free time, with no day given. */
  soonest?: boolean;
}

const PHRASES = [...DAY_PHRASES].map(([p, tags]) => [words(p), tags] as const).sort((a, b) => b[0].length - a[0].length);

function vocabIndex(table: typeof WEEKDAYS): Map<string, number> {
  const map = new Map<string, number>();
  for (const lang of LANGS) table[lang].forEach((names, i) => names.forEach((n) => map.set(words(n), i)));
  return map;
}
const WEEKDAY_INDEX = vocabIndex(WEEKDAYS);
const MONTH_INDEX = vocabIndex(MONTHS);
const MONTH_ALT = [...MONTH_INDEX.keys()].sort((a, b) => b.length - a.length).join('|');
const DAY_MONTH = new RegExp(`(?:^| )(\\d{1,2})(?:st|nd|rd|th)? (?:of |de |d )?(${MONTH_ALT})(?= |$)`);
const MONTH_DAY = new RegExp(`(?:^| )(${MONTH_ALT}) (\\d{1,2})(?:st|nd|rd|th)?(?= |$)`);

/** Replaces day phrases with `@` tokens, longest phrase first, and collects what they meant. */
function tagDays(text: string): { text: string; tags: Set<DayTag> } {
  let t = ` ${text} `;
  const tags = new Set<DayTag>();
  for (const g of GREETINGS_WITH_TIME) t = t.split(` ${words(g)} `).join(' ');
  for (const [phrase, phraseTags] of PHRASES) {
    if (!t.includes(` ${phrase} `)) continue;
    t = t.split(` ${phrase} `).join(' @ ');
    phraseTags.forEach((x) => tags.add(x));
  }
  return { text: t.replace(/\s+/g, ' ').trim(), tags };
}

function dateOf(year: number, month: number, day: number, zone: string): DateTime | null {
  const d = DateTime.fromObject({ year, month, day }, { zone });
  return d.isValid ? d : null;
}

/** A day and month without a year mean the next such date from today. */
function upcoming(month: number, day: number, today: DateTime): DateTime | null {
  const zone = today.zoneName ?? 'UTC';
  const d = dateOf(today.year, month, day, zone);
  if (!d) return null;
  return d < today ? dateOf(today.year + 1, month, day, zone) : d;
}

/** ISO dates, day-first numeric dates (the clinics we serve write 25/12), and month names in any language. */
function explicitDate(norm: string, plain: string, today: DateTime): DateTime | null {
  const zone = today.zoneName ?? 'UTC';
  const iso = /(?:^|\s)(\d{4})-(\d{1,2})-(\d{1,2})(?=\s|$)/.exec(norm);
  if (iso) return dateOf(Number(iso[1]), Number(iso[2]), Number(iso[3]), zone);
  const dm = /(?:^|\s)(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?(?=\s|$|[,.])/.exec(norm);
  if (dm) {
    const [day, month] = [Number(dm[1]), Number(dm[2])];
    if (dm[3]) {
      const year = dm[3].length === 2 ? 2000 + Number(dm[3]) : Number(dm[3]);
      return dateOf(year, month, day, zone);
    }
    const d = upcoming(month, day, today);
    if (d) return d;
  }
  const a = DAY_MONTH.exec(plain);
  if (a) return upcoming((MONTH_INDEX.get(a[2]) ?? 0) + 1, Number(a[1]), today);
  const b = MONTH_DAY.exec(plain);
  if (b) return upcoming((MONTH_INDEX.get(b[1]) ?? 0) + 1, Number(b[2]), today);
  return null;
}

/** "Tuesday" and "next Tuesday" both mean the coming one; today's own weekday means a week from today. */
function weekdayDate(tagged: string, today: DateTime): DateTime | null {
  for (const token of tagged.split(' ')) {
    const index = WEEKDAY_INDEX.get(token);
    if (index === undefined) continue;
    const diff = (index + 1 - today.weekday + 7) % 7 || 7;
    return today.plus({ days: diff });
  }
  return null;
}

function pad(n: number): string { return String(n).padStart(2, '0'); }

/** Hours without am/pm: afternoon words move them past noon, and 1-7 alone means pm in a clinic. */
function toTime(hour: number, minute: number, meridiem: string | undefined, partOfDay: PartOfDay | undefined): string | undefined {
  if (hour > 23 || minute > 59) return undefined;
  let h = hour;
  if (meridiem?.startsWith('p') && h < 12) h += 12;
  else if (meridiem?.startsWith('a') && h === 12) h = 0;
  else if (!meridiem && h < 12 && (partOfDay === 'afternoon' || partOfDay === 'evening')) h += 12;
  else if (!meridiem && !partOfDay && h >= 1 && h <= 7) h += 12;
  return `${pad(h)}:${pad(minute)}`;
}

const TIME_PATTERNS: readonly RegExp[] = [
  /(?:^|\s)(\d{1,2}):(\d{2})\s*(am|pm|a\.m\.|p\.m\.)?(?=\s|$|[,.!?])/,
  /(?:^|\s)(\d{1,2})()\s*(am|pm|a\.m\.|p\.m\.)(?=\s|$|[,.!?])/,
  /(?:^|\s)(\d{1,2})h(\d{2})?(?=\s|$)/,
  /(?:^|\s)(?:at|a las|a la|a les|sobre las|cap a les|around|about|de las|de les|las|les)\s+(\d{1,2})(?:[.:](\d{2}))?(?=\s|$|[,!?])/,
  // "10.30": a dot only before the quarters a clinic books, so "10.12" (a date, a price) is not a time.
  /(?:^|\s)(\d{1,2})\.(00|15|30|45)(?=\s|$|[,!?])/,
  /(?:^|\s)(\d{1,2})(?:[.:](\d{2}))?\s*(?:baje|bje|bajey|bajay|बजे)(?=\s|$)/,
];

function findTime(norm: string, partOfDay: PartOfDay | undefined): string | undefined {
  for (const re of TIME_PATTERNS) {
    const m = re.exec(norm);
    if (!m) continue;
    const t = toTime(Number(m[1]), m[2] ? Number(m[2]) : 0, m[3], partOfDay);
    if (t) return t;
  }
  return undefined;
}

/** Local midnight of a date in a zone ("zone|YYYY-MM-DD"), remembered: a DateTime is immutable and luxon's zone math is costly. */
const startOfDay = memoByKey(2_000, (key) => {
  const [zone, date] = key.split('|');
  return DateTime.fromISO(date, { zone }).startOf('day');
});

/** Finds a date, a part of day and a time in `text`, relative to `now` in `timeZone`. */
export function parseWhen(text: string, now: Date, timeZone: string): When {
  const today = startOfDay(`${timeZone}|${localDate(now, timeZone)}`);
  const norm = normalize(text);
  const plain = words(text);
  const { text: tagged, tags } = tagDays(plain);
  const when: When = {};
  const part = (['morning', 'afternoon', 'evening'] as const).find((p) => tags.has(p));
  if (part) when.partOfDay = part;

  let date = explicitDate(norm, plain, today) ?? weekdayDate(tagged, today);
  if (!date) {
    for (const re of IN_DAYS_PATTERNS) {
      const m = re.exec(plain);
      if (m) { date = today.plus({ days: Number(m[1]) }); break; }
    }
  }
  if (!date) {
    if (tags.has('d2')) date = today.plus({ days: 2 });
    else if (tags.has('d1')) date = today.plus({ days: 1 });
    else if (tags.has('d0')) date = today;
  }
  if (date) when.date = date.toISODate() ?? undefined;
  else if (tags.has('soon')) when.soonest = true;

  const time = findTime(norm, when.partOfDay);
  if (time) when.time = time;
  return when;
}
