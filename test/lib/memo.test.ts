import assert from 'node:assert/strict';
import { memoByKey } from '../../lib/memo.js';

describe('memoByKey (lib/memo)', () => {
  it('computes a key once, remembers falsy values too, and starts over when full', () => {
    const computed: string[] = [];
    const length = memoByKey(2, (key) => { computed.push(key); return key.length; });
    assert.equal(length('abc'), 3);
    assert.equal(length('abc'), 3);
    assert.equal(length(''), 0);
    assert.equal(length(''), 0);
    assert.deepEqual(computed, ['abc', '']);
    assert.equal(length('four'), 4); // a third key: the cache was full, so it starts over
    assert.equal(length('abc'), 3);
    assert.deepEqual(computed, ['abc', '', 'four', 'abc']);
  });
});
