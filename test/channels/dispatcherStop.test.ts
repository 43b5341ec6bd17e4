import assert from 'node:assert/strict';
import { createTestOrg, type TestOrg } from '../support/factories.js';
import { FakeChannel } from '../support/fakeChannel.js';
import { createLogger } from '../../lib/logger.js';
import { ChannelRegistry } from '../../channels/registry.js';
import { OutboundDispatcher } from '../../channels/dispatcher.js';
import { Message, queueOutboundMessage } from '../../models/messages.js';

const silent = createLogger('silent');

function dispatcher(t: TestOrg, channel: FakeChannel): OutboundDispatcher {
  return new OutboundDispatcher(t.svc.deps.db, new ChannelRegistry([channel]), silent, {
    pollMs: 50, batchSize: 50, leaseSeconds: 30, maxAttempts: 3, backoff: [1000], organizationIds: [t.org.id],
  });
}

describe('channels/dispatcher: stopping', () => {
  it('stop() gives claimed messages not yet sent back to the queue, and another instance sends each of them once', async () => {
    const t = await createTestOrg();
    // A paced channel (2 per second) and a backlog to twelve recipients: draining it would take five seconds.
    const paced = new FakeChannel({ ratePerSecond: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, { channel: 'telegram', to: `stop-${i}`, text: `Message ${i}`, sender: 'assistant' })).id);
    }
    const first = dispatcher(t, paced);
    first.start();
    await paced.waitForSends(1);
    await first.stop();
    const sentByFirst = paced.sent.length;
    assert.ok(sentByFirst < 12, `the stopping instance sent ${sentByFirst} of 12: it waited for the pace instead of giving them back`);
    const rows = await Message.query(t.svc.deps.db.knex).whereIn('id', ids);
    const given = rows.filter((r) => r.status === 'queued');
    assert.equal(given.length, 12 - sentByFirst, 'every message is either sent or back in the queue');
    for (const r of given) {
      assert.equal(r.claimed_until, null, 'claimable at once, not after the lease');
      assert.equal(r.attempts, 0, 'the untried attempt does not count');
    }

    const next = new FakeChannel();
    await dispatcher(t, next).drain();
    assert.deepEqual([...paced.sent, ...next.sent].map((s) => s.id).sort(), [...ids].sort(), 'each message sent once, by one instance or the other');
    const after = await Message.query(t.svc.deps.db.knex).whereIn('id', ids);
    assert.ok(after.every((r) => r.status === 'sent'));
    assert.ok(after.every((r) => r.attempts === 1), 'one attempt each');
  });
});
