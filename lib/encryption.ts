/**
 * Free text about patients is encrypted at rest (ARCHITECTURE.md, data rules)
 * with AES-256-GCM under a key ring that comes from configuration, never from
 * the database: ENCRYPTION_KEYS="<id>:<32 bytes, base64>,<id>:<...>". The
 * first key seals what is written; every key opens what it sealed, so a key is
 * rotated by putting a new one first and keeping the old ones until the
 * re-encryption job (models/encryption.ts) has moved their rows to the new one.
 *
 * A sealed value is text, so it fits the columns it replaces:
 *   enc:v1:<key id>:<base64 of 12-byte IV | 16-byte tag | ciphertext>
 * Anything else is read as plaintext: rows written before encryption was
 * turned on stay readable, and the job seals them too.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

/** What every sealed value starts with (its key id follows). */
export const SEALED_PREFIX = 'enc:v1:';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const SEALED = /^enc:v1:([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/]+={0,2})$/;

/** A key ring that ENCRYPTION_KEYS does not describe: the message says what is wrong with it. */
export class KeyRingError extends Error {}

/** What a sealed value shows where its key is not in the ring (removed too early) or its bytes do not verify. */
export const UNREADABLE = '[encrypted: unreadable with the configured keys]';

/** Random IVs drawn from a buffer filled in blocks: one system random call per 4,096 seals, not one per seal. */
class IvSource {
  private pool = Buffer.alloc(IV_BYTES * 4096);
  private offset = this.pool.length;

  next(): Buffer {
    if (this.offset >= this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const iv = this.pool.subarray(this.offset, this.offset + IV_BYTES);
    this.offset += IV_BYTES;
    return iv;
  }
}

export class KeyRing {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly ivs = new IvSource();
  /** The key new values are sealed with (the first of ENCRYPTION_KEYS). */
  readonly primaryId: string;

  constructor(keys: ReadonlyArray<{ id: string; key: Buffer }>) {
    if (keys.length === 0) throw new KeyRingError('at least one key is required');
    const map = new Map<string, Buffer>();
    for (const { id, key } of keys) {
      if (!KEY_ID.test(id)) throw new KeyRingError(`key id "${id}" must be 1-32 characters of A-Z, a-z, 0-9, _ and -`);
      if (key.length !== 32) throw new KeyRingError(`key "${id}" must be 32 bytes (base64 of 32 random bytes: openssl rand -base64 32)`);
      if (map.has(id)) throw new KeyRingError(`key id "${id}" appears twice`);
      map.set(id, key);
    }
    this.keys = map;
    this.primaryId = keys[0]!.id;
  }

  /** Every key id, the primary first. */
  get ids(): string[] {
    return [...this.keys.keys()];
  }

  /** The prefix every value sealed with the primary key starts with (the re-encryption job skips those). */
  get primaryPrefix(): string {
    return `${SEALED_PREFIX}${this.primaryId}:`;
  }

  seal(plaintext: string): string {
    const iv = this.ivs.next();
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.primaryId)!, iv);
    const body = cipher.update(plaintext, 'utf8');
    cipher.final();
    return `${this.primaryPrefix}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** The plaintext of a sealed value; a value that is not sealed is returned as it is (a row from before encryption). */
  open(stored: string): string {
    const parts = SEALED.exec(stored);
    if (!parts) return stored;
    const key = this.keys.get(parts[1]!);
    const bytes = Buffer.from(parts[2]!, 'base64');
    if (!key || bytes.length < IV_BYTES + TAG_BYTES) return UNREADABLE;
    try {
      const decipher = createDecipheriv(ALGORITHM, key, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return UNREADABLE;
    }
  }
}

/** The id of the key a stored value was sealed with, or null when it is plaintext. */
export function sealedKeyId(stored: string): string | null {
  return SEALED.exec(stored)?.[1] ?? null;
}

/** The key ring ENCRYPTION_KEYS describes ("<id>:<base64 key>", comma-separated, the primary first). */
export function parseKeyRing(spec: string): KeyRing {
  const entries = spec.split(',').map((s) => s.trim()).filter(Boolean);
  return new KeyRing(entries.map((entry) => {
    const colon = entry.indexOf(':');
    if (colon <= 0) throw new KeyRingError(`"${entry.slice(0, 8)}…" is not <id>:<base64 key>`);
    const id = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new KeyRingError(`key "${id}" is not base64`);
    return { id, key: Buffer.from(encoded, 'base64') };
  }));
}
