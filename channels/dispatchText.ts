/**
 * What a channel receives of a stored message: options as buttons or a
 * numbered list, and text split to the channel's length limit.
 */
import type { ChannelCapabilities } from './types.js';

export interface MessagePart { text: string; options: { value: string; label: string }[] | null }

/**
 * What the channel receives: options as buttons where it has them, otherwise
 * appended as a numbered list ("1. Label"); text longer than the channel takes
 * is split on sentence, then word boundaries (options ride on the last part).
 */
export function renderForChannel(text: string, options: MessagePart['options'], caps: ChannelCapabilities): MessagePart[] {
  let body = text;
  let buttons = options && options.length > 0 ? options : null;
  if (buttons && !caps.buttons) {
    body = `${text}\n\n${buttons.map((o, i) => `${i + 1}. ${o.label}`).join('\n')}`;
    buttons = null;
  }
  const chunks = splitText(body, caps.maxTextLength);
  return chunks.map((c, i) => ({ text: c, options: i === chunks.length - 1 ? buttons : null }));
}

/** Splits text into parts of at most `max` characters, preferring line and sentence ends, then spaces. */
export function splitText(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max + 1);
    let cut = -1;
    for (const m of window.slice(0, max).matchAll(/(?:[.!?…][)"'»]*\s)|\n/g)) cut = m.index + m[0].length;
    if (cut < max * 0.5) {
      const space = window.lastIndexOf(' ');
      cut = space > max * 0.3 ? space + 1 : max;
    }
    if (cut > max) cut = max;
    // Never split a surrogate pair (emoji).
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    const part = rest.slice(0, cut).trimEnd();
    if (part) parts.push(part);
    rest = rest.slice(cut).trimStart();
  }
  if (rest) parts.push(rest);
  return parts;
}
