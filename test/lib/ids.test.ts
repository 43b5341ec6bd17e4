import assert from 'node:assert/strict';
import { hasPrefix, newId } from '../../lib/ids.js';

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const timeOf = (ulid: string) => [...ulid.slice(0, 10)].reduce((n, c) => n * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c), 0);

describe('public ids (lib/ids)', () => {
  it('are the prefix and a 26-character ULID whose first 10 characters encode the time', () => {
    // Ids are monotonic per process: ask for a time after the latest one handed out, so it is used as given.
    const latest = timeOf(newId('patient').slice(4));
    const id = newId('patient', latest + 1000);
    assert.ok(hasPrefix(id, 'patient'));
    const ulid = id.slice('pat_'.length);
    assert.match(ulid, CROCKFORD);
    assert.equal(timeOf(ulid), latest + 1000);
  });

  it('sort in the order they were made, within one millisecond too, and never repeat across many', () => {
    const ids = Array.from({ length: 5_000 }, () => newId('message').slice(4));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    // A new millisecond draws fresh randomness: the random parts of consecutive milliseconds differ.
    const t = timeOf(newId('message').slice(4)) + 1000; // after the latest id handed out (ids are monotonic)
    const randomParts = [newId('message', t), newId('message', t + 1), newId('message', t + 2)].map((id) => id.slice(4 + 10));
    assert.equal(new Set(randomParts).size, 3);
  });
});
