/** Text normalization shared by the keyword tables and the matchers, so both sides compare the same way. */

const DEVANAGARI_DIGITS = '०१२३४५६७८९';

/**
 * Lowercases, strips Latin accents (not Devanagari signs), maps Devanagari digits to ASCII
 * and chandrabindu to anusvara (patients type both "हाँ" and "हां"), and keeps : / . - for dates and times.
 */
export function normalize(text: string): string {
  let out = text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  out = out.replace(/[०-९]/g, (d) => String(DEVANAGARI_DIGITS.indexOf(d)));
  out = out.replace(/\u0901/g, '\u0902').replace(/\u093c/g, '');
  out = out.replace(/l·l/g, 'll').replace(/[’'`´]/g, ' ');
  out = out.replace(/[^\p{L}\p{M}\p{N}:/.+-]+/gu, ' ');
  return out.replace(/\s+/g, ' ').trim();
}

/** Normalized text with all punctuation turned into spaces: the form keyword phrases are matched against. */
export function words(text: string): string {
  return normalize(text).replace(/[:/.+-]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** True when `phrase` (already in `words` form) occurs in `haystack` (in `words` form) on word boundaries. */
export function hasPhrase(haystack: string, phrase: string): boolean {
  return ` ${haystack} `.includes(` ${phrase} `);
}

/** Returns the phrases of `list` found in `haystack`; phrases are normalized with `words` first. */
export function findPhrases(haystack: string, list: readonly string[]): string[] {
  return list.filter((p) => hasPhrase(haystack, words(p)));
}
