import assert from 'node:assert/strict';
import { SentRecorder, Slots } from '../../channels/dispatchSupport.js';
import type { SentRecord } from '../../models/outbox.js';

const sent = (id: string): SentRecord => ({ claim: { id, attempts: 1 }, providerMessageId: null, status: 'sent', at: new Date() });

describe('channels/dispatchSupport SentRecorder', () => {
  it('records the sends of its gathering window in one statement and tells each whether its claim held', async () => {
    const statements: string[][] = [];
    const recorder = new SentRecorder(async (records) => {
      statements.push(records.map((r) => r.claim.id));
      return new Set(records.map((r) => r.claim.id).filter((id) => id !== 'lost'));
    }, 30);
    const first = recorder.record(sent('a'));
    await new Promise((r) => setTimeout(r, 10));
    const rest = [recorder.record(sent('b')), recorder.record(sent('lost'))];
    assert.deepEqual(await Promise.all([first, ...rest]), [true, true, false]);
    assert.deepEqual(statements, [['a', 'b', 'lost']], 'one statement for the three');
    await recorder.idle();
    assert.equal(await recorder.record(sent('c')), true);
    assert.deepEqual(statements, [['a', 'b', 'lost'], ['c']], 'a later send gets a statement of its own');
  });

  it('without a window, records a send at once and gathers only behind a statement in flight', async () => {
    const statements: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const recorder = new SentRecorder(async (records) => {
      statements.push(records.map((r) => r.claim.id));
      if (statements.length === 1) await gate;
      return new Set(records.map((r) => r.claim.id));
    });
    const first = recorder.record(sent('a'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(statements, [['a']], 'written at once');
    const behind = [recorder.record(sent('b')), recorder.record(sent('c'))];
    release();
    await Promise.all([first, ...behind]);
    assert.deepEqual(statements, [['a'], ['b', 'c']]);
  });

  it('rejects every send of a statement that failed, and goes on with the next', async () => {
    let calls = 0;
    const recorder = new SentRecorder(async (records) => {
      calls++;
      if (calls === 1) throw new Error('connection lost');
      return new Set(records.map((r) => r.claim.id));
    }, 5);
    await assert.rejects(recorder.record(sent('a')), /connection lost/);
    assert.equal(await recorder.record(sent('b')), true);
  });
});

describe('channels/dispatchSupport Slots', () => {
  it('gives a freed slot to an urgent taker before those who waited longer', async () => {
    const slots = new Slots(1);
    await slots.take();
    const order: string[] = [];
    const waiters = [
      slots.take().then(() => { order.push('bulk 1'); }),
      slots.take().then(() => { order.push('bulk 2'); }),
      slots.take(true).then(() => { order.push('reply'); }),
    ];
    for (let i = 0; i < 3; i++) {
      slots.give();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waiters);
    assert.deepEqual(order, ['reply', 'bulk 1', 'bulk 2']);
  });
});
