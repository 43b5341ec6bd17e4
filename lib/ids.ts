/**
 * Prefixed, sortable public ids: `pat_` + 26 Crockford base32 chars (ULID:
 * 48-bit time + 80-bit randomness), so ids sort by creation time.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const PREFIXES = {
  organization: 'org', user: 'usr', apiKey: 'key', patient: 'pat', doctor: 'doc', appointment: 'apt',
  conversation: 'conv', message: 'msg', ticket: 'tkt', ticketComment: 'tcm', webhook: 'wh', event: 'evt',
  call: 'call', batch: 'batch', template: 'tpl', reminder: 'rem', refreshToken: 'rtk', delivery: 'dlv',
} as const;

export type IdKind = keyof typeof PREFIXES;

let lastTime = 0;
let lastRandom: Uint8Array = new Uint8Array(10);

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits -> 16 base32 chars
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = ALPHABET[Number(bits & 31n)] + out;
    bits >>= 5n;
  }
  return out;
}

/** Monotonic within one process: ids made in the same millisecond still sort. */
export function newId(kind: IdKind, now = Date.now()): string {
  let random: Uint8Array;
  if (now <= lastTime) {
    random = lastRandom.slice();
    for (let i = random.length - 1; i >= 0; i--) {
      if (random[i] < 255) { random[i]++; break; }
      random[i] = 0;
    }
    now = lastTime;
  } else {
    random = Uint8Array.from(randomBytes(10));
  }
  lastTime = now;
  lastRandom = random;
  return `${PREFIXES[kind]}_${encodeTime(now)}${encodeRandom(random)}`;
}

export function hasPrefix(id: string, kind: IdKind): boolean {
  return id.startsWith(`${PREFIXES[kind]}_`);
}
