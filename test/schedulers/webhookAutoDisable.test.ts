import assert from 'node:assert/strict';
import { createPatient } from '../../models/patients.js';
import { createTestOrg, uniquePhone, type TestOrg } from '../support/factories.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';
import {
  databaseNow, deliveriesOf, failForGood, fallDue, sender, streakBegan, subscribe, until,
} from '../support/webhookDeliveries.js';

const getHook = async (t: TestOrg, id: string) => {
  const res = await t.admin.client.get(`/api/v1/webhooks/${id}`);
  assert.equal(res.status, 200);
  return res.body.data as { status: string; disabled_reason: string | null; disabled_at: string | null };
};

/** The rule's two halves: one delivery fails, a day passes, four more fail. */
async function failForADay(t: TestOrg, webhookId: string): Promise<void> {
  await failForGood(t, webhookId, 1);
  await streakBegan(t, webhookId, '25 hours');
  await failForGood(t, webhookId, 4);
}

describe('webhooks disabled automatically (models/webhookHealth)', () => {
  let receiver: WebhookReceiver;
  beforeEach(async () => {
    receiver = await startWebhookReceiver();
    receiver.respond = () => ({ status: 500 });
  });
  afterEach(async () => { await receiver.close(); });

  it('a webhook whose deliveries failed 5 times in a row over a day is disabled, says why, records webhook.disabled, and gets nothing more', async () => {
    const t = await createTestOrg();
    const monitor = await startWebhookReceiver();
    try {
      const hook = await subscribe(t, receiver.url, ['patient.created', 'webhook.disabled']);
      const watcher = await subscribe(t, monitor.url, ['webhook.disabled']);
      const knex = t.svc.deps.db.knex;

      await failForGood(t, hook.id, 1);
      await streakBegan(t, hook.id, '25 hours');
      await failForGood(t, hook.id, 3);
      assert.equal((await getHook(t, hook.id)).status, 'active', 'four failures are not enough');
      // An event whose delivery is still retrying when the webhook is disabled.
      await createPatient(knex, { organizationId: t.org.id }, { name: 'In Flight', phone: uniquePhone() });
      const inFlight = (await until(t, hook.id, (d) => d.some((x) => x.event === 'patient.created' && x.attempts === 1 && x.response_status === 500)))
        .find((x) => x.event === 'patient.created');
      await failForGood(t, hook.id, 1);

      const disabled = await getHook(t, hook.id);
      assert.equal(disabled.status, 'disabled');
      assert.match(disabled.disabled_reason!, /^Disabled automatically: 5 deliveries in a row failed after every retry, the first at \S+Z \(last error: HTTP 500\)$/);
      assert.ok(Math.abs(new Date(disabled.disabled_at!).getTime() - (await databaseNow(t)).getTime()) < 5_000, 'disabled just now, by the database clock');

      const [event] = await knex('events').where({ organization_id: t.org.id, event: 'webhook.disabled' });
      assert.equal(event.subject_id, hook.id);
      const data = typeof event.data === 'string' ? JSON.parse(event.data) : event.data;
      assert.equal(data.disabled_reason, disabled.disabled_reason);
      assert.equal(data.failed_deliveries, 5);
      const [told] = await monitor.waitFor(1);
      assert.equal(told!.payload.event, 'webhook.disabled', 'the other subscriber is told');
      assert.equal(told!.payload.data.webhook_id, hook.id);
      await until(t, watcher.id, (d) => d[0]?.status === 'succeeded');
      assert.ok((await deliveriesOf(t, hook.id)).every((d) => d.event !== 'webhook.disabled'), 'never sent its own webhook.disabled');

      const sent = receiver.received.length;
      await fallDue(t, inFlight!.id);
      assert.equal(await sender(t).tick(), 0, 'what was queued waits');
      const [waiting] = (await deliveriesOf(t, hook.id)).filter((d) => d.id === inFlight!.id);
      assert.equal(waiting!.status, 'pending');
      assert.equal(waiting!.attempts, 1);
      const queued = (await deliveriesOf(t, hook.id)).length;
      await createPatient(knex, { organizationId: t.org.id }, { name: 'Too Late', phone: uniquePhone() });
      assert.equal((await deliveriesOf(t, hook.id)).length, queued, 'a later event queues nothing for it');
      assert.equal(receiver.received.length, sent);
    } finally {
      await monitor.close();
    }
  });

  it('five deliveries failing within a day leave it active: a short outage is not enough; once the streak is a day old, the next failure disables it', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    await failForGood(t, hook.id, 5);
    assert.equal((await getHook(t, hook.id)).status, 'active');
    await streakBegan(t, hook.id, '25 hours');
    await failForGood(t, hook.id, 1);
    const hookNow = await getHook(t, hook.id);
    assert.equal(hookNow.status, 'disabled');
    assert.match(hookNow.disabled_reason!, /6 deliveries in a row/);
  });

  it('one success in between starts the streak over: four failures, a success, a day later one more failure leave it active', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    await failForGood(t, hook.id, 4);
    await streakBegan(t, hook.id, '25 hours');
    receiver.respond = () => ({ status: 200 });
    const ping = await t.admin.client.post(`/api/v1/webhooks/${hook.id}/test`);
    assert.equal(ping.body.data.status, 'succeeded');
    receiver.respond = () => ({ status: 500 });
    await failForGood(t, hook.id, 1);
    const hookNow = await getHook(t, hook.id);
    assert.equal(hookNow.status, 'active');
    assert.equal(hookNow.disabled_reason, null);
    assert.equal(hookNow.disabled_at, null);
  });

  it('PATCH status active re-enables it: the reason is cleared, its next failure does not disable it again, and it receives the next event', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    await failForADay(t, hook.id);
    assert.equal((await getHook(t, hook.id)).status, 'disabled');

    const res = await t.admin.client.patch(`/api/v1/webhooks/${hook.id}`, { status: 'active' });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.status, 'active');
    assert.equal(res.body.data.disabled_reason, null);
    assert.equal(res.body.data.disabled_at, null);

    await failForGood(t, hook.id, 1);
    assert.equal((await getHook(t, hook.id)).status, 'active', 'the streak started over');

    receiver.respond = () => ({ status: 200 });
    const before = receiver.received.length;
    await createPatient(t.svc.deps.db.knex, { organizationId: t.org.id }, { name: 'Welcome Back', phone: uniquePhone() });
    const got = await receiver.waitFor(before + 1);
    assert.equal(got[before]!.payload.event, 'patient.created');
    await until(t, hook.id, (d) => d.some((x) => x.event === 'patient.created' && x.status === 'succeeded'));
  });
});
