/**
 * What PostgreSQL cannot store in text or jsonb: U+0000 (both refuse it) and a
 * UTF-16 surrogate without its pair (JSON can escape one; jsonb refuses it).
 * The API refuses a value that holds one (api/http/route.ts); a patient's
 * message is kept without it (lib/inbound.ts).
 */
const UNSTORABLE = /[\u0000\p{Cs}]/u; // eslint-disable-line no-control-regex
const UNSTORABLE_ALL = /[\u0000\p{Cs}]/gu; // eslint-disable-line no-control-regex
const LONE_SURROGATES = /\p{Cs}/gu;

/** Why `s` cannot be stored as it is, said of a field; null when it can. */
export function unstorableReason(s: string): string | null {
  if (!UNSTORABLE.test(s)) return null;
  return s.includes('\u0000') ? 'must not contain the NUL character (U+0000)' : 'must not contain an unpaired surrogate (it is not valid Unicode)';
}

/** `s` with every character that cannot be stored removed (to name a key in an error). */
export function withoutUnstorable(s: string): string {
  return s.replace(UNSTORABLE_ALL, '');
}

/** `s` as it can be stored: U+0000 dropped, a lone surrogate replaced by U+FFFD. */
export function storableText(s: string): string {
  if (!UNSTORABLE.test(s)) return s;
  return s.replaceAll('\u0000', '').replace(LONE_SURROGATES, '\uFFFD');
}
