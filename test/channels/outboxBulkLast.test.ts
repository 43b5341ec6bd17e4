import assert from 'node:assert/strict';
import { createTestOrg, type TestOrg } from '../support/factories.js';
import { newId } from '../../lib/ids.js';
import { outboundInsert, queueOutboundMessage, type QueueOutboundInput } from '../../models/messages.js';
import { claimOutbound } from '../../models/outbox.js';
import { OutboundDispatcher } from '../../channels/dispatcher.js';
import { ChannelRegistry } from '../../channels/registry.js';
import { createLogger } from '../../lib/logger.js';
import { FakeChannel } from '../support/fakeChannel.js';

/**
 * Bulk sends are claimed last: a campaign paced at the provider's rate is hours
 * of queue, and nothing queued after it (a staff reply, a reminder, a bot
 * reply) waits behind it; a campaign's message to a patient does not hold
 * back a reply to that patient either.
 */
describe('the outbox claims bulk sends last (models/outbox)', () => {
  const queue = (t: TestOrg, input: Partial<QueueOutboundInput>) => queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, {
    channel: 'sms', to: '+34600000000', text: 'Flu shots are available this week.', sender: 'system', ...input,
  });
  const claim = (t: TestOrg, limit: number) => claimOutbound(t.svc.deps.db.knex, { limit, leaseSeconds: 60, now: new Date(), organizationIds: [t.org.id] });

  it('claims a staff reply queued after a campaign before the campaign\'s messages', async () => {
    const t = await createTestOrg();
    const batchId = `batch_${newId('event').slice(4)}`;
    const campaign = [];
    for (let i = 0; i < 5; i++) campaign.push(await queue(t, { to: `+3460000000${i}`, batchId }));
    const reply = await queue(t, { to: '+34611111111', text: 'We have moved your appointment to 10:00.', sender: 'staff' });
    const first = await claim(t, 2);
    assert.deepEqual(first.messages.map((m) => m.id), [reply.id, campaign[0]!.id], 'the reply first, then the campaign in its order');
    const rest = await claim(t, 10);
    assert.deepEqual(rest.messages.map((m) => m.id), campaign.slice(1).map((m) => m.id));
  });

  it('a campaign\'s message waiting for its turn does not hold back a later reply to the same patient; an earlier reply still holds back a later one', async () => {
    const t = await createTestOrg();
    const batchId = `batch_${newId('event').slice(4)}`;
    for (let i = 0; i < 3; i++) await queue(t, { to: `+3462000000${i}`, batchId });
    const bulkToAna = await queue(t, { to: '+34699999999', batchId });
    const reply = await queue(t, { to: '+34699999999', text: 'Your results are ready.', sender: 'staff' });
    const followUp = await queue(t, { to: '+34699999999', text: 'Call us to book a review.', sender: 'staff' });
    const first = await claim(t, 1);
    assert.deepEqual(first.messages.map((m) => m.id), [reply.id]);
    const second = await claim(t, 10);
    assert.ok(!second.messages.some((m) => m.id === followUp.id), 'the follow-up waits for the reply before it');
    // Queued before her replies, it waits for nothing of its own: the campaign goes on in its order.
    assert.ok(second.messages.some((m) => m.id === bulkToAna.id));
  });

  it('sends a staff message queued while a slow campaign fills the rounds in flight, without waiting for a round to end', async () => {
    const t = await createTestOrg();
    // Each campaign send takes 4 s at the provider: the two rounds in flight end only then.
    const sms = new FakeChannel({ name: 'sms', latencyMs: 4_000 });
    const chat = new FakeChannel({ name: 'telegram' });
    const d = new OutboundDispatcher(t.svc.deps.db, new ChannelRegistry([sms, chat]), createLogger('silent'), {
      pollMs: 60_000, batchSize: 8, maxBatchSize: 8, concurrency: 20, leaseSeconds: 30, maxAttempts: 3, backoff: [1000], organizationIds: [t.org.id],
    });
    const batchId = `batch_${newId('event').slice(4)}`;
    for (let i = 0; i < 24; i++) await queue(t, { to: `+346300000${String(i).padStart(2, '0')}`, batchId });
    d.start();
    try {
      for (let waited = 0; sms.calls < 16 && waited < 3_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      assert.equal(sms.calls, 16, 'two rounds of the campaign are being sent');
      await queue(t, { channel: 'telegram', to: '555123', text: 'The doctor can see you at 12:00 instead.', sender: 'staff' });
      d.kick();
      await chat.waitForSends(1, 2_000);
      assert.equal(sms.sent.length, 0, 'before any of the campaign\'s rounds ended');
    } finally {
      await d.stop();
    }
  });

  it('a campaign\'s message queued for the patient does not keep a bot reply from being handed over', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    await queue(t, { channel: 'telegram', to: '555777', batchId: `batch_${newId('event').slice(4)}` });
    const reply: QueueOutboundInput = { id: newId('message'), channel: 'telegram', to: '555777', text: 'Which specialty?', sender: 'assistant' };
    const insert = outboundInsert(knex, { organizationId: t.org.id }, [reply], undefined, { until: new Date(Date.now() + 60_000), now: new Date() });
    await knex.raw(insert.sql, insert.bindings);
    const row = (await knex('messages').where({ id: reply.id }).first()) as { claimed_until: Date | null; attempts: number };
    assert.ok(row.claimed_until, 'claimed as it was stored');
    assert.equal(row.attempts, 1);
  });
});
