/** Entity extraction for the rules understander: choices, names, phones, specializations and doctors. */
import { NUMBER_WORDS, OPTION_WORDS, ORDINALS } from './lexicon.js';
import { hasPhrase, normalize, words } from './normalize.js';
import { LANGS, type UnderstandContext } from './types.js';

function indexOf(table: typeof ORDINALS): Map<string, number> {
  const map = new Map<string, number>();
  for (const lang of LANGS) table[lang].forEach((list, i) => list.forEach((w) => map.set(words(w), i + 1)));
  return map;
}
const ORDINAL_INDEX = indexOf(ORDINALS);
const NUMBER_INDEX = indexOf(NUMBER_WORDS);
const OPTION_PREFIX = new Set(OPTION_WORDS.map(words));

/**
 * A choice is a bare number ("2", "2.", "#2"), "option 2" / "la 2", a bare number word ("dos"), or an
 * ordinal in a short message ("the second one", "la segunda", "doosra wala"); "at 2" is a time, not a choice.
 */
export function findChoice(text: string): number | undefined {
  const bare = /^\s*#?\s*(\d{1,2})\s*[.)]?\s*$/.exec(normalize(text));
  if (bare) return Number(bare[1]);
  // "the 11:00 one", "la de les 10.30": a clock time, not option 11 or 10.
  if (/\d{1,2}[:.h]\d{2}/.test(text)) return undefined;
  const tokens = words(text).split(' ').filter(Boolean);
  if (tokens.length === 0) return undefined;
  if (tokens.length === 1 && NUMBER_INDEX.has(tokens[0]!)) return NUMBER_INDEX.get(tokens[0]!);
  for (let i = 0; i + 1 < tokens.length; i++) {
    // "a la 1" / "a les 5" is a time, not "option 1".
    if (!OPTION_PREFIX.has(tokens[i]!) || tokens[i - 1] === 'a') continue;
    const next = tokens[i + 1]!;
    if (/^\d{1,2}$/.test(next) && tokens.length <= 4) return Number(next);
    if (NUMBER_INDEX.has(next) && tokens.length <= 4 && tokens[i] !== 'no') return NUMBER_INDEX.get(next);
  }
  if (tokens.length <= 5) {
    for (const t of tokens) if (ORDINAL_INDEX.has(t)) return ORDINAL_INDEX.get(t);
  }
  return undefined;
}

const PHONE = /(?:^|[^\d\w])(\+?\d[\d\s().-]{5,}\d)(?!\d)/;

/** A phone as typed: at least 7 digits, and not a date like 2026-12-25. */
export function findPhone(text: string): string | undefined {
  const m = PHONE.exec(text);
  if (!m) return undefined;
  const raw = m[1]!.trim();
  const digits = raw.replace(/\D/g, '');
  if (digits.length < 7 || digits.length > 15) return undefined;
  if (/^\d{4}-\d{1,2}-\d{1,2}$/.test(raw) || /^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}$/.test(raw)) return undefined;
  return raw;
}

/** Strong triggers take any name; weak ones ("I'm", "soy") need a capitalized name so "I'm sick" is not a name. */
const NAME_STRONG = /(?:my name is|my name's|name is|me llamo|mi nombre es|em dic|el meu nom és|el meu nom es|mera naam|mera nam|meraa naam|मेरा नाम)\s*[:,-]?\s+(.+)/iu;
const NAME_WEAK = /(?:^|[.!,]\s*)(?:[Ii] am|[Ii]['’]m|[Tt]his is|[Ss]oy|[Ss]óc|[Ss]oc)\s+(\p{Lu}.*)/u;
const NAME_STOP = /\s+(?:and|y|i|hai|hoon|hun|है|हूं|हूँ|but|pero|però|from|de parte)\b.*$|[,.;!?()\d].*$/iu;

export function findName(text: string): string | undefined {
  const m = NAME_STRONG.exec(text) ?? NAME_WEAK.exec(text);
  if (!m) return undefined;
  let name = m[1]!.replace(/\s+(?:hai|hoon|hun)$/iu, '').replace(NAME_STOP, '').replace(/\s+(?:है|हूं|हूँ)\s*$/u, '').trim();
  name = name.split(/\s+/).slice(0, 4).join(' ');
  return /^[\p{L}\p{M}][\p{L}\p{M}'’. -]{0,59}$/u.test(name) ? name : undefined;
}

/** Cross-language stems for the usual specializations, keyed by the English stem a clinic would configure. */
const SPECIALTY_SYNONYMS: Record<string, readonly string[]> = {
  cardio: ['cardio', 'corazon', 'cor', 'heart', 'hriday', 'dil', 'हृदय', 'दिल', 'कार्डियो'],
  dermat: ['dermat', 'piel', 'pell', 'skin', 'twacha', 'त्वचा', 'चर्म'],
  pediat: ['pediat', 'paediat', 'child', 'children', 'kid', 'kids', 'baby', 'ninos', 'nino', 'nina', 'ninas', 'nens', 'nen', 'nena', 'bebe',
    'bachch', 'bacch', 'bacho', 'बच्चों', 'बच्चे', 'बाल'],
  gyn: ['gyn', 'gine', 'gin', 'women', 'mujer', 'dona', 'stri', 'स्त्री'],
  dent: ['dent', 'teeth', 'tooth', 'diente', 'muela', 'dents', 'queixal', 'daant', 'दांत'],
  ophthal: ['ophthal', 'oftalm', 'eye', 'ojos', 'ulls', 'aankh', 'आंख'],
  general: ['general', 'family', 'familia', 'capcalera', 'gp', 'physician'],
  trauma: ['trauma', 'orthop', 'ortop', 'bone', 'hueso', 'os', 'haddi', 'हड्डी'],
  psych: ['psych', 'psiq', 'psic', 'mental', 'manochikitsa', 'मनोचिकित्सक'],
  neuro: ['neuro', 'nerv', 'brain', 'cerebro', 'cervell'],
};

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Matches "cardiólogo", "cardiologia" or "heart" to the configured "Cardiology". */
export function findSpecialization(text: string, ctx: UnderstandContext): string | undefined {
  const tokens = words(text).split(' ').filter((t) => t.length >= 2);
  for (const spec of ctx.specializations) {
    const specWords = words(spec).split(' ').filter((w) => w.length >= 4);
    if (specWords.length > 0 && specWords.every((w) => tokens.some((t) => commonPrefix(t, w) >= Math.min(w.length, Math.max(5, Math.ceil(w.length * 0.6)))))) return spec;
    const key = Object.keys(SPECIALTY_SYNONYMS).find((k) => words(spec).startsWith(k));
    if (!key) continue;
    const stems = SPECIALTY_SYNONYMS[key]!;
    if (tokens.some((t) => stems.some((s) => (s.length <= 4 ? t === s : t.startsWith(s))))) return spec;
  }
  return undefined;
}

const TITLES = new Set(['dr', 'dra', 'doctor', 'doctora', 'doc', 'doctorji', 'mr', 'mrs', 'ms', 'sr', 'sra', 'डॉ', 'डॉक्टर']);

/** Partial doctor names ("Dr. Garcia", "garcía"); two doctors matching equally well means no match. */
export function findDoctor(text: string, ctx: UnderstandContext): string | undefined {
  const w = words(text);
  let best: { id: string; score: number } | undefined;
  let tie = false;
  for (const doctor of ctx.doctors) {
    const parts = words(doctor.name).split(' ').filter((p) => p.length >= 3 && !TITLES.has(p));
    const score = parts.filter((p) => hasPhrase(w, p)).length;
    if (score === 0) continue;
    if (!best || score > best.score) { best = { id: doctor.id, score }; tie = false; } else if (score === best.score) tie = true;
  }
  return best && !tie ? best.id : undefined;
}
