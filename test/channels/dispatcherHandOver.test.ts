import assert from 'node:assert/strict';
import { createTestOrg, type TestOrg } from '../support/factories.js';
import { FakeChannel } from '../support/fakeChannel.js';
import { fixedClock } from '../support/service.js';
import { createLogger } from '../../lib/logger.js';
import { newId } from '../../lib/ids.js';
import { ChannelRegistry } from '../../channels/registry.js';
import { OutboundDispatcher, type DispatcherOptions } from '../../channels/dispatcher.js';
import { Message, outboundInsert, queueOutboundMessage, type ClaimAtInsert, type QueueOutboundInput } from '../../models/messages.js';
import { claimedAtInsert, type ClaimedMessage } from '../../models/outbox.js';

/** Rows a commit hands to this instance's dispatcher (claimUntil, sendClaimed): a bot reply goes out without a claim. */
describe('channels/dispatcher: rows handed over by their commit', () => {
  const silent = createLogger('silent');

  function dispatcher(t: TestOrg, channels: FakeChannel[], opts: Partial<DispatcherOptions> = {}): OutboundDispatcher {
    return new OutboundDispatcher(t.svc.deps.db, new ChannelRegistry(channels), silent, {
      pollMs: 60_000, batchSize: 50, leaseSeconds: 30, maxAttempts: 3, backoff: [1000], organizationIds: [t.org.id], ...opts,
    });
  }

  /** Stores one reply claimed by its own statement, as a turn's save does, and returns it as the commit hands it over. */
  async function storeClaimed(t: TestOrg, claim: ClaimAtInsert, input: Partial<QueueOutboundInput> = {}): Promise<ClaimedMessage> {
    const reply: QueueOutboundInput = { id: newId('message'), channel: 'telegram', to: '555001', text: 'Which specialty?', sender: 'assistant', now: new Date(), ...input };
    const scope = { organizationId: t.org.id };
    const insert = outboundInsert(t.svc.deps.db.knex, scope, [reply], undefined, claim);
    await t.svc.deps.db.knex.raw(insert.sql, insert.bindings);
    return claimedAtInsert(scope, { id: reply.id!, reply, patientOptedOut: false }, reply.now!);
  }

  const reload = (t: TestOrg, id: string) => Message.query(t.svc.deps.db.knex).findById(id).then((m) => m!);
  const started = async (d: OutboundDispatcher) => {
    d.start();
    // The loop's first claim (of nothing) is over: from here it sleeps for pollMs unless kicked.
    await new Promise((r) => setTimeout(r, 50));
  };

  it('claimUntil gives a lease only while running, for its own channels and organizations', async () => {
    const t = await createTestOrg();
    const d = dispatcher(t, [new FakeChannel()]);
    assert.equal(d.claimUntil('telegram', t.org.id), null, 'not running');
    await started(d);
    try {
      const until = d.claimUntil('telegram', t.org.id);
      assert.ok(until && Math.abs(until.getTime() - (Date.now() + 30_000)) < 5_000, 'now + the lease');
      assert.equal(d.claimUntil('sms', t.org.id), null, 'a channel it does not send on');
      assert.equal(d.claimUntil('telegram', 'org_someoneelse'), null, 'an organization it does not serve');
    } finally {
      await d.stop();
    }
    assert.equal(d.claimUntil('telegram', t.org.id), null, 'stopped');
  });

  it('sends a handed-over row at once while the loop sleeps, records it, and stop() waits for the record', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ deliveredAtOnce: true });
    const d = dispatcher(t, [fake]);
    await started(d);
    const m = await storeClaimed(t, { until: d.claimUntil('telegram', t.org.id)!, now: new Date() });
    d.sendClaimed([m]);
    await fake.waitForSends(1, 2_000);
    await d.stop();
    assert.equal(fake.sent[0]!.id, m.id);
    assert.equal(fake.sent[0]!.text, 'Which specialty?');
    const row = await reload(t, m.id);
    assert.equal(row.status, 'delivered');
    assert.equal(row.attempts, 1);
    assert.equal(row.claimed_until, null);
  });

  it('a message queued behind a handed-over one to the same recipient is sent after it', async () => {
    const t = await createTestOrg();
    const fake = new FakeChannel({ latencyMs: 200 });
    const d = dispatcher(t, [fake]);
    await started(d);
    try {
      const first = await storeClaimed(t, { until: d.claimUntil('telegram', t.org.id)!, now: new Date() });
      const second = await queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, {
        channel: 'telegram', to: '555001', text: 'Staff: we will call you.', sender: 'staff',
      });
      // The claim comes first and must pass the second over while the first is being sent.
      d.kick();
      await new Promise((r) => setTimeout(r, 50));
      d.sendClaimed([first]);
      await fake.waitForSends(2, 5_000);
      assert.deepEqual(fake.sent.map((s) => s.id), [first.id, second.id]);
    } finally {
      await d.stop();
    }
  });

  it('handed-over rows still waiting for the channel\'s pace when it stops go back to the queue, unleased, for the next instance', async () => {
    const t = await createTestOrg();
    const paced = new FakeChannel({ ratePerSecond: 1 });
    const d = dispatcher(t, [paced]);
    await started(d);
    const replies: ClaimedMessage[] = [];
    for (let i = 0; i < 4; i++) replies.push(await storeClaimed(t, { until: d.claimUntil('telegram', t.org.id)!, now: new Date() }, { to: `pace-${i}` }));
    d.sendClaimed(replies);
    await paced.waitForSends(1, 2_000);
    await d.stop();
    const waiting = (await Promise.all(replies.map((r) => reload(t, r.id)))).filter((row) => row.status === 'queued');
    assert.ok(waiting.length > 0, 'a reply was still waiting for its turn');
    assert.equal(waiting.length + paced.sent.length, replies.length);
    for (const row of waiting) assert.deepEqual([row.claimed_until, row.attempts], [null, 0]);
    const next = new FakeChannel();
    await dispatcher(t, [next]).drain();
    assert.deepEqual([...paced.sent, ...next.sent].map((s) => s.id).sort(), replies.map((r) => r.id).sort());
  });

  it('a handed-over row its instance never sent is retaken once its lease has expired', async () => {
    const t = await createTestOrg();
    const clock = fixedClock(new Date());
    const fake = new FakeChannel();
    const d = dispatcher(t, [fake], { clock });
    const m = await storeClaimed(t, { until: new Date(clock.now().getTime() + 30_000), now: clock.now() });
    assert.equal(await d.runOnce(), 0, 'under its lease');
    clock.advance(31_000);
    assert.equal(await d.runOnce(), 1);
    assert.deepEqual(fake.sent.map((s) => s.id), [m.id]);
    const row = await reload(t, m.id);
    assert.equal(row.status, 'sent');
    assert.equal(row.attempts, 2, 'the second attempt: the first may have reached the provider');
  });
});
