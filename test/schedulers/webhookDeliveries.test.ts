import assert from 'node:assert/strict';
import { newId } from '../../lib/ids.js';
import { createPatient } from '../../models/patients.js';
import type { WebhookDelivery } from '../../models/webhookDeliveries.js';
import { queueTestDelivery } from '../../models/webhooks.js';
import { createTestOrg, uniquePhone } from '../support/factories.js';
import { startWebhookReceiver, expectedSignature, type WebhookReceiver } from '../support/webhookReceiver.js';
import { deliveriesOf, fallDue, sender, subscribe, until } from '../support/webhookDeliveries.js';

/** The delay a failed attempt set before the next one, in ms. */
const retryDelay = (d: WebhookDelivery) => d.next_attempt_at.getTime() - d.updated_at.getTime();

describe('webhook deliveries (schedulers/webhookDeliveries)', () => {
  let receiver: WebhookReceiver;
  beforeEach(async () => { receiver = await startWebhookReceiver(); });
  afterEach(async () => { await receiver.close(); });

  it('POSTs an event to its subscribers at once after the commit, signed with X-Webhook-Signature over the raw body', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    const created = await t.admin.client.post('/api/v1/patients', { name: 'Marta Vidal', phone: uniquePhone() });
    assert.equal(created.status, 201);

    const [got] = await receiver.waitFor(1);
    assert.equal(got!.headers['content-type'], 'application/json');
    assert.equal(got!.headers['x-webhook-signature'], expectedSignature(got!.rawBody, hook.secret));
    assert.notEqual(got!.headers['x-webhook-signature'], expectedSignature(got!.rawBody, `${hook.secret}x`));
    const p = got!.payload;
    assert.match(p.id, /^evt_/);
    assert.equal(got!.headers['x-webhook-id'], p.id);
    assert.equal(got!.headers['x-webhook-event'], 'patient.created');
    assert.equal(p.event, 'patient.created');
    assert.equal(p.organization_id, t.org.id);
    assert.match(p.created_at, /Z$/);
    assert.equal(p.data.id ?? p.data.patient_id, created.body.data.id);

    const [delivery] = await until(t, hook.id, (d) => d[0]?.status === 'succeeded');
    assert.equal(delivery!.attempts, 1);
    assert.equal(delivery!.response_status, 200);
    assert.equal(got!.headers['x-webhook-delivery'], delivery!.id);
    const listed = await t.admin.client.get(`/api/v1/webhooks/${hook.id}/deliveries`);
    assert.equal(listed.body.data[0].event_id, p.id);
    assert.equal(listed.body.data[0].next_attempt_at, null);
  });

  it("queues only the events a webhook subscribed to, only its organization's, only while it is active, and nothing for a rolled-back change", async () => {
    const t = await createTestOrg();
    const other = await createTestOrg();
    const tickets = await subscribe(t, receiver.url, ['ticket.created']);
    const patients = await subscribe(t, receiver.url, ['patient.created']);
    const disabled = await subscribe(t, receiver.url, ['patient.created']);
    await t.admin.client.patch(`/api/v1/webhooks/${disabled.id}`, { status: 'disabled' });
    const knex = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };

    await createPatient(knex, { organizationId: other.org.id }, { name: 'Elsewhere', phone: uniquePhone() });
    await assert.rejects(knex.transaction(async (trx) => {
      await createPatient(trx, scope, { name: 'Rolled Back', phone: uniquePhone() });
      throw new Error('rollback');
    }), /rollback/);
    await createPatient(knex, scope, { name: 'Kept', phone: uniquePhone() });

    const [got] = await receiver.waitFor(1);
    assert.equal(got!.payload.event, 'patient.created');
    assert.equal(got!.payload.organization_id, t.org.id);
    await until(t, patients.id, (d) => d.length === 1 && d[0]!.status === 'succeeded');
    assert.equal((await deliveriesOf(t, tickets.id)).length, 0, 'not subscribed to patient.created');
    assert.equal((await deliveriesOf(t, disabled.id)).length, 0, 'disabled: nothing queued');
    assert.equal(receiver.received.length, 1, 'one event: the other organization and the rolled-back change deliver nothing');
  });

  it('retries a failing receiver after 1, 5 and 15 minutes, then marks the delivery failed; redeliver sends it again', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    receiver.respond = () => ({ status: 500 });
    await createPatient(t.svc.deps.db.knex, { organizationId: t.org.id }, { name: 'Retry Me', phone: uniquePhone() });

    // The first attempt goes out at once; the next is due a minute later.
    const [first] = await until(t, hook.id, (d) => d[0]?.attempts === 1 && d[0].response_status === 500);
    assert.equal(first!.status, 'pending');
    assert.equal(first!.last_error, 'HTTP 500');
    assert.equal(retryDelay(first!), 60_000);

    const job = sender(t);
    assert.equal(await job.tick(), 0, 'not due yet');
    for (const [i, delay] of [5 * 60_000, 15 * 60_000].entries()) {
      await fallDue(t, first!.id);
      assert.equal(await job.tick(), 1);
      const [row] = await deliveriesOf(t, hook.id);
      assert.equal(row!.attempts, i + 2);
      assert.equal(row!.status, 'pending');
      assert.equal(retryDelay(row!), delay);
    }
    // A redirect is not followed: it counts as a failure too.
    receiver.respond = () => ({ status: 302, headers: { location: 'https://elsewhere.example/' } });
    await fallDue(t, first!.id);
    assert.equal(await job.tick(), 1);
    const [failed] = await deliveriesOf(t, hook.id);
    assert.equal(failed!.status, 'failed');
    assert.equal(failed!.attempts, 4);
    assert.equal(failed!.last_error, 'HTTP 302');
    await fallDue(t, first!.id);
    assert.equal(await job.tick(), 0, 'a failed delivery is not retried again');
    assert.equal(receiver.received.length, 4);
    assert.equal(new Set(receiver.received.map((r) => r.payload.id)).size, 1, 'every attempt carries the same event');
    assert.deepEqual(receiver.received.map((r) => r.headers['x-webhook-attempt']), ['1', '2', '3', '4']);
    assert.deepEqual(new Set(receiver.received.map((r) => r.rawBody)).size, 1, 'the same body, byte for byte');

    receiver.respond = () => ({ status: 204 });
    const again = await t.admin.client.post(`/api/v1/webhooks/${hook.id}/deliveries/${failed!.id}/redeliver`);
    assert.equal(again.status, 200);
    assert.equal(again.body.data.status, 'succeeded');
    assert.equal(again.body.data.attempts, 1);
    assert.equal(again.body.data.response_status, 204);
    const twice = await t.admin.client.post(`/api/v1/webhooks/${hook.id}/deliveries/${newId('delivery')}/redeliver`);
    assert.equal(twice.status, 404);
  });

  it('counts a receiver that does not answer within WEBHOOK_TIMEOUT_MS as a failed attempt', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['ticket.created']);
    receiver.respond = () => ({ status: 200, delayMs: 1_000 });
    // Queued without a notification (as the test endpoint queues), so only this sender, with its short timeout, sends it.
    const id = await queueTestDelivery(t.svc.deps.db.knex, { organizationId: t.org.id }, hook.id);
    assert.equal(await sender(t, 200).tick(), 1);
    const [row] = await deliveriesOf(t, hook.id);
    assert.equal(row!.id, id);
    assert.equal(row!.status, 'pending');
    assert.equal(row!.response_status, null);
    assert.equal(row!.last_error, 'no response within 200 ms');
    assert.ok(row!.response_ms! >= 190 && row!.response_ms! < 1_000, `gave up after ${row!.response_ms} ms`);
    assert.equal(retryDelay(row!), 60_000);
  });

  it('two senders at once deliver each event exactly once (SKIP LOCKED)', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    receiver.respond = () => ({ status: 200, delayMs: 5 });
    const knex = t.svc.deps.db.knex;
    await knex.transaction(async (trx) => {
      for (let i = 0; i < 30; i++) await createPatient(trx, { organizationId: t.org.id }, { name: `Patient ${i}`, phone: uniquePhone() });
    });
    // The shared service was told at commit and is sending too: three senders in all.
    const a = sender(t);
    const b = sender(t);
    await Promise.all([a.tick(), b.tick()]);
    await until(t, hook.id, (d) => d.length === 30 && d.every((x) => x.status === 'succeeded'));
    await receiver.waitFor(30);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver.received.length, 30, 'no event sent twice');
    assert.equal(new Set(receiver.received.map((r) => r.payload.id)).size, 30);
    assert.ok((await deliveriesOf(t, hook.id)).every((d) => d.attempts === 1));
  });

  it('a deleted webhook drops its pending deliveries and is sent nothing more', async () => {
    const t = await createTestOrg();
    const hook = await subscribe(t, receiver.url, ['patient.created']);
    receiver.respond = () => ({ status: 500 });
    await createPatient(t.svc.deps.db.knex, { organizationId: t.org.id }, { name: 'Gone Soon', phone: uniquePhone() });
    await until(t, hook.id, (d) => d[0]?.attempts === 1 && d[0].response_status === 500);
    assert.equal((await t.admin.client.delete(`/api/v1/webhooks/${hook.id}`)).status, 200);
    assert.equal((await deliveriesOf(t, hook.id)).length, 0);
    await t.svc.deps.db.knex('webhook_deliveries').where({ organization_id: t.org.id }).update({ next_attempt_at: t.svc.deps.db.knex.raw("now() - interval '1 hour'") });
    assert.equal(await sender(t).tick(), 0);
    assert.equal(receiver.received.length, 1);
  });
});
