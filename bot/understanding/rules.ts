/** The default understander: keyword tables, numbers, dates and times in en, es, ca and hi; no network. */
import { localDate } from '../../models/workingHours.js';
import { toE164InZone } from '../../lib/phone.js';
import { parseWhen } from './dates.js';
import { findChoice, findDoctor, findName, findPhone, findSpecialization } from './extract.js';
import { detectLanguage } from './language.js';
import * as lx from './lexicon.js';
import { hasPhrase, words } from './normalize.js';
import { INFO_TOPICS, LANGS, type InfoTopic, type Intent, type UnderstandContext, type Understander, type Understanding } from './types.js';

/** Every phrase of a table across languages, normalized once. */
function flatten(table: lx.Table): string[] {
  return [...new Set(LANGS.flatMap((l) => table[l].map(words)))];
}
const T = {
  emergency: flatten(lx.EMERGENCY), optOut: flatten(lx.OPT_OUT), optIn: flatten(lx.OPT_IN),
  handoff: lx.HANDOFF.map(([category, table]) => [category, flatten(table)] as const),
  clinicInfo: Object.fromEntries(lx.CLINIC_INFO.map(([topic, table]) => [topic, flatten(table)])) as Record<InfoTopic, string[]>,
  clinicInfoWords: Object.fromEntries(lx.CLINIC_INFO_WORDS.map(([topic, list]) => [topic, [...new Set(list.map(words))]])) as Record<InfoTopic, string[]>,
  reschedule: flatten(lx.RESCHEDULE), rescheduleVerbs: flatten(lx.RESCHEDULE_VERBS), cancel: flatten(lx.CANCEL), confirm: flatten(lx.CONFIRM), bookStrong: flatten(lx.BOOK_STRONG),
  bookWeak: flatten(lx.BOOK_WEAK), list: flatten(lx.LIST), help: flatten(lx.HELP), menu: flatten(lx.MENU), thanks: flatten(lx.THANKS),
  greet: flatten(lx.GREET), affirm: flatten(lx.AFFIRM), deny: flatten(lx.DENY),
};
const FILLERS = lx.FILLERS.map(words).sort((a, b) => b.length - a.length);

function any(w: string, phrases: readonly string[]): boolean {
  return phrases.some((p) => hasPhrase(w, p));
}

/** Drops politeness words so "STOP please" is still just the keyword. */
function withoutFillers(w: string): string {
  let t = ` ${w} `;
  for (const f of FILLERS) t = t.split(` ${f} `).join(' ');
  return t.replace(/\s+/g, ' ').trim();
}

/** Yes/no words count only in short replies, and one-letter ones ("y", "n") only alone: "y" is Spanish "and". */
function shortAnswer(w: string, phrases: readonly string[]): boolean {
  const n = w.split(' ').length;
  if (n > 5) return false;
  return phrases.some((p) => (p.length === 1 ? w === p : hasPhrase(w, p)));
}

/** The clinic_info topics a message asks about: by phrase, or by a bare topic word in a message of four words at most. */
function infoTopics(w: string): InfoTopic[] {
  const short = withoutFillers(w).split(' ').length <= 4;
  return INFO_TOPICS.filter((topic) => any(w, T.clinicInfo[topic]) || (short && any(w, T.clinicInfoWords[topic])));
}

function classify(w: string, choice: number | undefined, hasInfo: boolean): Intent {
  if (any(w, T.emergency)) return 'emergency';
  const bare = withoutFillers(w);
  if (T.optOut.includes(bare)) return 'opt_out';
  if (T.optIn.includes(bare)) return 'opt_in';
  if (T.handoff.some(([, phrases]) => any(w, phrases))) return 'handoff';
  if (any(w, T.reschedule) || (any(w, T.rescheduleVerbs) && any(w, T.bookWeak))) return 'reschedule';
  if (any(w, T.cancel)) return 'cancel';
  if (any(w, T.confirm)) return 'confirm';
  if (any(w, T.bookStrong)) return 'book';
  if (any(w, T.list)) return 'list_appointments';
  if (infoTopics(w).length > 0) return 'clinic_info';
  if (any(w, T.bookWeak)) return 'book';
  if (choice === 0) return 'menu';
  if (w.split(' ').length <= 3 && any(w, T.menu)) return 'menu';
  if (any(w, T.help)) return 'help';
  if (choice !== undefined) return 'choose';
  if (shortAnswer(w, T.affirm)) return 'affirm';
  if (shortAnswer(w, T.deny)) return 'deny';
  if (any(w, T.thanks)) return 'thanks';
  if (hasInfo) return 'provide_info';
  if (any(w, T.greet)) return 'greet';
  return 'unknown';
}

/**
 * The two days of "move my Monday appointment to Tuesday at 12" ("del lunes
 * al martes", "somvar wali appointment mangalvar ko"): in every language the
 * appointment's day comes first, so the message is cut at the first place
 * with a day on each side; the first is the appointment's (fromDate), the
 * second with its time the new one. Nothing when no cut has two different days.
 */
function fromAndTo(text: string, phone: string | undefined, ctx: UnderstandContext): Partial<Understanding> {
  const tokens = words(phone ? text.replace(phone, ' ') : text).split(' ').filter(Boolean);
  for (let i = 1; i < tokens.length; i++) {
    const before = parseWhen(tokens.slice(0, i).join(' '), ctx.now, ctx.timeZone);
    if (!before.date) continue;
    const after = parseWhen(tokens.slice(i).join(' '), ctx.now, ctx.timeZone);
    if (!after.date || after.date === before.date) return {};
    const to: Partial<Understanding> = { fromDate: before.date, date: after.date };
    if (after.partOfDay) to.partOfDay = after.partOfDay;
    if (after.time) to.time = after.time;
    return to;
  }
  return {};
}

/** Understands one message with the keyword tables; pure and synchronous underneath. */
export function understandByRules(text: string, ctx: UnderstandContext): Understanding {
  const w = words(text);
  const u: Understanding = { intent: 'unknown', language: detectLanguage(text, ctx.languageHint) };
  const choice = findChoice(text);
  if (choice !== undefined) u.choice = choice;
  const phone = findPhone(text);
  // Only a number the clinic could dial: "612345678" at a clinic whose country is unknown is asked again, with the country code.
  if (phone && toE164InZone(phone, ctx.timeZone)) u.phone = phone;
  // A phone number's digit groups must not be read as dates or times.
  const when = parseWhen(phone ? text.replace(phone, ' ') : text, ctx.now, ctx.timeZone);
  Object.assign(u, when);
  const name = findName(text);
  if (name) u.name = name;
  const specialization = findSpecialization(text, ctx);
  if (specialization) u.specialization = specialization;
  const doctorId = findDoctor(text, ctx);
  if (doctorId) u.doctorId = doctorId;
  const hasInfo = Boolean(u.date || u.soonest || u.partOfDay || u.time || u.name || u.phone || u.specialization || u.doctorId);
  u.intent = classify(w, choice, hasInfo);
  if (u.intent === 'reschedule') Object.assign(u, fromAndTo(text, phone, ctx));
  if (u.intent === 'handoff') u.handoffCategory = T.handoff.find(([, phrases]) => any(w, phrases))?.[0] ?? 'other';
  // Read again only for the rare clinic question: classify stops at the first intent that matches.
  if (u.intent === 'clinic_info') u.infoTopics = infoTopics(w);
  return u;
}

/**
 * The rules, remembering the short replies that come again and again ("1",
 * "yes", "mañana por la tarde"): their meaning depends only on the text, the
 * language hint, the clinic's doctors and specialties, and the local date.
 * A reply that carried a name or a phone number is never kept.
 */
export class RulesUnderstander implements Understander {
  private readonly byClinic = new WeakMap<object, WeakMap<object, Map<string, Understanding>>>();

  async understand(text: string, ctx: UnderstandContext): Promise<Understanding> {
    if (text.length > MEMO_TEXT_MAX) return understandByRules(text, ctx);
    let bySpecialties = this.byClinic.get(ctx.doctors);
    if (!bySpecialties) this.byClinic.set(ctx.doctors, (bySpecialties = new WeakMap()));
    let memo = bySpecialties.get(ctx.specializations);
    if (!memo) bySpecialties.set(ctx.specializations, (memo = new Map()));
    const key = `${ctx.timeZone}|${localDate(ctx.now, ctx.timeZone)}|${ctx.languageHint ?? ''}|${text}`;
    const known = memo.get(key);
    if (known) return structuredClone(known);
    const u = understandByRules(text, ctx);
    if (!u.name && !u.phone) {
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(key, structuredClone(u));
    }
    return u;
  }
}

const MEMO_TEXT_MAX = 40;
const MEMO_ENTRIES = 2_000;
