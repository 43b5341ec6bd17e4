/** Questions about the clinic itself: where it is, when it is open, how to call it. Public details, so nobody is asked who they are first. */
import { DateTime } from 'luxon';
import { render } from '../catalog/index.js';
import { INFO_TOPICS, type InfoTopic, type Lang } from '../understanding/types.js';
import { WEEKDAYS, type WorkingHours } from '../../models/workingHours.js';
import { askMenu, askOfferPerson, reask } from './ask.js';
import { say, type Turn } from './turn.js';

const KEYS = { address: 'clinic_address', hours: 'clinic_hours', phone: 'clinic_phone' } as const;

/**
 * Answers each topic asked about (all three when the question named none).
 * At the menu it then shows the menu again, or offers a person when the
 * clinic has not said what was asked; in the middle of a flow it says what it
 * cannot tell and asks the flow's question again, so a booking goes on.
 */
export function answerClinicInfo(t: Turn, asked: readonly InfoTopic[] | undefined): void {
  const topics = asked?.length ? asked : INFO_TOPICS;
  const { address, phone, openingHours } = t.ctx.clinic;
  const values: Record<InfoTopic, string | null> = { address, phone, hours: openingHours ? weeklyHoursText(t.s.language, openingHours) : null };
  const missing = topics.filter((topic) => !values[topic]);
  for (const topic of topics) if (values[topic]) say(t, KEYS[topic], { [topic]: values[topic]! });
  // Between flows (the menu, a finished one, an offer of a person or of a booking) nothing is lost by starting afresh.
  const atRest = t.s.flow === 'idle' && t.s.step !== 'reminder';
  if (atRest) {
    if (missing.length) askOfferPerson(t, `the patient asked for the clinic's ${missing.join(' and ')}, which the bot does not have`, 'clinic_info_missing');
    else askMenu(t);
    return;
  }
  if (missing.length) say(t, 'clinic_info_unknown');
  reask(t);
}

/** "Monday to Friday: 08:00–20:00" lines, consecutive days with the same hours together; null when no day has hours. */
export function weeklyHoursText(lang: Lang, hours: Partial<WorkingHours>): string | null {
  if (!WEEKDAYS.some((day) => hours[day]?.length)) return null;
  const groups: { first: number; last: number; text: string }[] = [];
  WEEKDAYS.forEach((day, i) => {
    const text = (hours[day] ?? []).map((range) => range.replace('-', '–')).join(', ') || render(lang, 'hours_closed');
    const last = groups[groups.length - 1];
    if (last && last.text === text) last.last = i;
    else groups.push({ first: i, last: i, text });
  });
  return groups.map((g) => {
    const days = g.first === g.last ? dayName(g.first, lang) : render(lang, 'hours_days', { first: dayName(g.first, lang), last: dayName(g.last, lang) });
    return `${days.charAt(0).toLocaleUpperCase(lang)}${days.slice(1)}: ${g.text}`;
  }).join('\n');
}

/** Monday 1 January 2024 starts the week the names are read from. */
function dayName(index: number, lang: Lang): string {
  return DateTime.fromISO('2024-01-01', { zone: 'UTC' }).plus({ days: index }).setLocale(lang).toFormat('cccc');
}
