import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerWithin, storedSignal } from '../../channels/webhookDeadline.js';
import type { Logger } from '../../lib/logger.js';

/** A logger that keeps what was logged at error level. */
function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  const noop = () => undefined;
  return { errors, error: (_o: unknown, msg: string) => { errors.push(msg); }, warn: noop, info: noop, debug: noop } as unknown as Logger & { errors: string[] };
}

/** A turn the test settles by hand. */
function turn(): { work: Promise<string>; finish: () => void; fail: (err: Error) => void } {
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const work = new Promise<string>((resolve, reject) => { finish = () => resolve('done'); fail = reject; });
  return { work, finish, fail };
}

describe('channels/webhookDeadline: answerWithin', () => {
  it('answers when the turn is done, before the deadline', async () => {
    const t = turn();
    const { stored, mark } = storedSignal();
    const answered = answerWithin(t.work, 60_000, recordingLogger(), 'late', stored).then(() => 'answered');
    mark();
    t.finish();
    assert.equal(await Promise.race([answered, sleep(1_000).then(() => 'still waiting')]), 'answered');
  });

  it('answers at the deadline after the message was stored, and logs a failure of the turn that goes on', async () => {
    const t = turn();
    const logger = recordingLogger();
    const { stored, mark } = storedSignal();
    mark();
    await answerWithin(t.work, 5, logger, 'sms: inbound turn failed after the webhook answered', stored);
    t.fail(new Error('the database went away'));
    await sleep(0);
    assert.deepEqual(logger.errors, ['sms: inbound turn failed after the webhook answered']);
  });

  it('does not answer before the message is stored: a store that fails after the deadline is thrown, so the provider redelivers', async () => {
    const t = turn();
    const { stored } = storedSignal();
    const answered = answerWithin(t.work, 5, recordingLogger(), 'late', stored);
    await sleep(40);
    t.fail(new Error('could not store the message'));
    await assert.rejects(answered, /could not store the message/);
  });

  it('a turn that fails before the deadline is thrown', async () => {
    const t = turn();
    const { stored, mark } = storedSignal();
    mark();
    const answered = answerWithin(t.work, 60_000, recordingLogger(), 'late', stored);
    t.fail(new Error('engine failed'));
    await assert.rejects(answered, /engine failed/);
  });
});
