/** Reply catalogs and rendering: one key set, four languages. */
import type { Lang } from '../understanding/types.js';
import { ca } from './ca.js';
import { en } from './en.js';
import { es } from './es.js';
import { hi } from './hi.js';
import type { Catalog, ReplyKey } from './keys.js';

export { REPLY_KEYS, type Catalog, type ReplyKey } from './keys.js';

export const CATALOGS: Record<Lang, Catalog> = { en, es, ca, hi };

export type ReplyParams = Record<string, string | number>;

/**
 * Fills {placeholders}. A line whose placeholders are all given as '' is dropped, so optional details
 * (a clinic address) need no second template; a placeholder with no param stays visible so tests catch it.
 */
export function render(lang: Lang, key: ReplyKey, params: ReplyParams = {}): string {
  return CATALOGS[lang][key]
    .split('\n')
    .filter((line) => {
      const names = [...line.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      return names.length === 0 || names.some((n) => params[n] === undefined || String(params[n]) !== '');
    })
    .map((line) => line.replace(/\{(\w+)\}/g, (whole, name: string) => (params[name] === undefined ? whole : String(params[name]))))
    .join('\n');
}

/** A reply as plain text: the template, then numbered options for channels without buttons (SMS, keypad). */
export function renderText(lang: Lang, reply: { key: ReplyKey; params?: ReplyParams; options?: { value: string; label: string }[] }): string {
  const text = render(lang, reply.key, reply.params);
  if (!reply.options?.length) return text;
  return `${text}\n${reply.options.map((o) => `${o.value}. ${o.label}`).join('\n')}`;
}
