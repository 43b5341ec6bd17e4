import assert from 'node:assert/strict';
import { KeyRing, KeyRingError, parseKeyRing, sealedKeyId, UNREADABLE } from '../../lib/encryption.js';
import { ConfigError, loadConfig } from '../../lib/config.js';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const ring = (spec: string) => parseKeyRing(spec);

describe('encryption at rest: the key ring (lib/encryption.ts)', () => {
  it('seals with the first key and opens what it sealed: text of any script, empty, long', () => {
    const r = ring(`k2:${key(2)},k1:${key(1)}`);
    for (const text of ['Tengo dolor en el pecho', 'मुझे कल सुबह डॉक्टर से मिलना है', '', 'x'.repeat(10_000), 'emoji 🩺 and "quotes"']) {
      const sealed = r.seal(text);
      assert.match(sealed, /^enc:v1:k2:[A-Za-z0-9+/]+={0,2}$/);
      if (text) assert.ok(!sealed.includes(text), 'the stored value does not carry the text');
      assert.equal(r.open(sealed), text);
      assert.equal(sealedKeyId(sealed), 'k2');
    }
  });

  it('never seals the same text to the same value (a fresh IV each time)', () => {
    const r = ring(`k1:${key(1)}`);
    const values = new Set(Array.from({ length: 1000 }, () => r.seal('1')));
    assert.equal(values.size, 1000);
  });

  it('opens values of an older key while it stays in the ring; without it they are unreadable, not ciphertext', () => {
    const old = ring(`k1:${key(1)}`);
    const sealed = old.seal('Mi número es 612 345 678');
    assert.equal(ring(`k2:${key(2)},k1:${key(1)}`).open(sealed), 'Mi número es 612 345 678');
    assert.equal(ring(`k2:${key(2)}`).open(sealed), UNREADABLE);
  });

  it('refuses a value altered at rest (the GCM tag), and a key id reused with other bytes', () => {
    const r = ring(`k1:${key(1)}`);
    const sealed = r.seal('cita el martes');
    const bytes = Buffer.from(sealed.slice('enc:v1:k1:'.length), 'base64');
    bytes[bytes.length - 1]! ^= 1;
    assert.equal(r.open(`enc:v1:k1:${bytes.toString('base64')}`), UNREADABLE);
    assert.equal(ring(`k1:${key(9)}`).open(sealed), UNREADABLE);
    assert.equal(r.open('enc:v1:k1:AAAA'), UNREADABLE, 'too short to hold an IV and a tag');
  });

  it('reads a value that is not sealed as the plaintext it is (rows from before encryption)', () => {
    const r = ring(`k1:${key(1)}`);
    for (const text of ['Hola', 'enc:v1:', 'enc: v1 something', '']) {
      assert.equal(r.open(text), text);
      assert.equal(sealedKeyId(text), null);
    }
  });

  it('ENCRYPTION_KEYS that do not describe a ring are refused, naming what is wrong', () => {
    const cases: [string, RegExp][] = [
      [`k1:${Buffer.alloc(16).toString('base64')}`, /key "k1" must be 32 bytes/],
      [`bad id!:${key(1)}`, /key id "bad id!"/],
      [`k1:${key(1)},k1:${key(2)}`, /"k1" appears twice/],
      ['k1:not base64!', /key "k1" is not base64/],
      [key(1), /is not <id>:<base64 key>/],
      [' , ', /at least one key/],
    ];
    for (const [spec, message] of cases) assert.throws(() => parseKeyRing(spec), (err: unknown) => err instanceof KeyRingError && message.test((err as Error).message), spec);
    assert.throws(() => new KeyRing([]), KeyRingError);
  });

  it('the configuration names ENCRYPTION_KEYS when it is malformed, and requires it in production', () => {
    assert.throws(() => loadConfig({ ENCRYPTION_KEYS: 'k1:short' }), (err: unknown) => err instanceof ConfigError && /ENCRYPTION_KEYS: key "k1" must be 32 bytes/.test((err as Error).message));
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), (err: unknown) => err instanceof ConfigError && /ENCRYPTION_KEYS: required in production/.test((err as Error).message));
    const config = loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEYS: `k1:${key(1)}`, ENCRYPTION_KEY_ROTATION_DAYS: '90' });
    assert.equal(config.ENCRYPTION_KEY_ROTATION_DAYS, 90);
    assert.equal(loadConfig({}).ENCRYPTION_KEY_ROTATION_DAYS, 30);
  });
});
