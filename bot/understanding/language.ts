/** Language detection by counting words each language's vocabulary claims. */
import * as lexicon from './lexicon.js';
import { MONTHS, WEEKDAYS } from './dateWords.js';
import { words } from './normalize.js';
import { LANGS, type Lang } from './types.js';

const TABLES: lexicon.Table[] = [lexicon.EMERGENCY, lexicon.OPT_OUT, lexicon.OPT_IN, ...lexicon.HANDOFF.map(([, t]) => t), ...lexicon.CLINIC_INFO.map(([, t]) => t),
  lexicon.RESCHEDULE, lexicon.CANCEL, lexicon.CONFIRM, lexicon.BOOK_STRONG, lexicon.BOOK_WEAK, lexicon.LIST, lexicon.HELP,
  lexicon.MENU, lexicon.THANKS, lexicon.GREET, lexicon.AFFIRM, lexicon.DENY, lexicon.LANGUAGE_WORDS];

const DAY_WORDS: Record<Lang, string[]> = {
  en: ['today', 'tomorrow', 'tonight', 'morning', 'afternoon', 'evening', 'night', 'day', 'after'],
  es: ['hoy', 'mañana', 'pasado', 'tarde', 'noche', 'mediodía', 'esta'],
  ca: ['avui', 'demà', 'passat', 'matí', 'tarda', 'vespre', 'nit', 'migdia', 'aquest', 'aquesta', 'pel'],
  hi: ['aaj', 'kal', 'parson', 'subah', 'dopahar', 'shaam', 'raat', 'baje'],
};

const NEUTRAL = new Set(lexicon.NEUTRAL_WORDS.map(words));

function buildVocabulary(): Record<Lang, Set<string>> {
  const vocab = {} as Record<Lang, Set<string>>;
  for (const lang of LANGS) {
    const set = new Set<string>();
    const add = (phrase: string) => words(phrase).split(' ').filter((t) => t && !NEUTRAL.has(t) && !/^\d+$/.test(t)).forEach((t) => set.add(t));
    for (const table of TABLES) table[lang].forEach(add);
    for (const list of [...WEEKDAYS[lang], ...MONTHS[lang], ...lexicon.ORDINALS[lang]]) list.filter((w) => w.length > 3).forEach(add);
    DAY_WORDS[lang].forEach(add);
    vocab[lang] = set;
  }
  return vocab;
}
const VOCABULARY = buildVocabulary();

/** Scores each language; returns the clear winner, the hint when it ties for first, or null when unsure. */
export function detectLanguage(text: string, hint: Lang | null): Lang | null {
  const scores: Record<Lang, number> = { en: 0, es: 0, ca: 0, hi: 0 };
  if (/[\u0900-\u097f]/.test(text)) scores.hi += 3;
  if (/[ñ¿¡]/i.test(text)) scores.es += 1;
  if (/[àèòç]|l·l/i.test(text)) scores.ca += 1;
  const tokens = new Set(words(text).split(' ').filter(Boolean));
  for (const lang of LANGS) for (const t of tokens) if (VOCABULARY[lang].has(t)) scores[lang] += 1;
  const ranked = [...LANGS].sort((a, b) => scores[b] - scores[a]);
  const top = scores[ranked[0]!];
  if (top < 1) return null;
  const tied = ranked.filter((l) => scores[l] === top);
  if (tied.length === 1) return tied[0]!;
  return hint && tied.includes(hint) ? hint : null;
}
