import assert from 'node:assert/strict';
import { hasPrefix, newId } from '../../lib/ids.js';

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('public ids (lib/ids)', () => {
  it('are the prefix and a 26-character ULID whose first 10 characters encode the time', () => {
    const at = Date.now() + 60_000; // later than any id made so far, so its own time is used
    const id = newId('patient', at);
    assert.ok(hasPrefix(id, 'patient'));
    const ulid = id.slice('pat_'.length);
    assert.match(ulid, CROCKFORD);
    const time = [...ulid.slice(0, 10)].reduce((n, c) => n * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c), 0);
    assert.equal(time, at);
  });

  it('sort in the order they were made, within one millisecond too, and never repeat across many', () => {
    const ids = Array.from({ length: 5_000 }, () => newId('message').slice(4));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    // A new millisecond draws fresh randomness: the random parts of consecutive milliseconds differ.
    const t = Date.now() + 120_000;
    const randomParts = [newId('message', t), newId('message', t + 1), newId('message', t + 2)].map((id) => id.slice(4 + 10));
    assert.equal(new Set(randomParts).size, 3);
  });
});
