/**
 * Prefixed, sortable public ids: `pat_` + 26 Crockford base32 chars (ULID:
 * 48-bit time + 80-bit randomness), so ids sort by creation time.
 */
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const PREFIXES = {
  organization: 'org', user: 'usr', apiKey: 'key', patient: 'pat', doctor: 'doc', appointment: 'apt',
  conversation: 'conv', message: 'msg', ticket: 'tkt', ticketComment: 'tcm', webhook: 'wh', event: 'evt',
  call: 'call', batch: 'batch', template: 'tpl', reminder: 'rem', refreshToken: 'rtk', delivery: 'dlv', media: 'med',
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

/** 80 bits -> 16 base32 chars, as two 40-bit halves (exact in a double, no BigInt). */
function encodeRandom(bytes: Uint8Array): string {
  return encode40(bytes, 0) + encode40(bytes, 5);
}

function encode40(bytes: Uint8Array, at: number): string {
  let n = 0;
  for (let i = at; i < at + 5; i++) n = n * 256 + bytes[i];
  let out = '';
  for (let i = 0; i < 8; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/** Randomness drawn 10 bytes at a time from a pool refilled in one call (one call per id costs more than the rest of newId). */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolAt = POOL_SIZE;

function randomTen(): Uint8Array {
  if (poolAt + 10 > POOL_SIZE) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Uint8Array.from(pool.subarray(poolAt, poolAt + 10));
  poolAt += 10;
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
    random = randomTen();
  }
  lastTime = now;
  lastRandom = random;
  return `${PREFIXES[kind]}_${encodeTime(now)}${encodeRandom(random)}`;
}

export function hasPrefix(id: string, kind: IdKind): boolean {
  return id.startsWith(`${PREFIXES[kind]}_`);
}
