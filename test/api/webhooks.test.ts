import assert from 'node:assert/strict';
import { createTestOrg, createTestUser } from '../support/factories.js';
import { startWebhookReceiver, expectedSignature } from '../support/webhookReceiver.js';
import { failForGood, streakBegan } from '../support/webhookDeliveries.js';

const fields = (res: { body: { error: { details: { fields: { field: string }[] } } } }) =>
  res.body.error.details.fields.map((f) => f.field).sort();

describe('/api/v1/webhooks', () => {
  it('POST /webhooks subscribes a URL, generates a secret shown only in that answer, and GET /webhooks lists it', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/webhooks', {
      url: 'https://integrator.example/hooks/carechat', events: ['appointment.created', 'appointment.canceled', 'appointment.created'], description: 'EHR sync',
    });
    assert.equal(res.status, 201);
    const hook = res.body.data;
    assert.match(hook.id, /^wh_/);
    assert.equal(hook.status, 'active');
    assert.deepEqual(hook.events, ['appointment.created', 'appointment.cancelled'], 'the "canceled" spelling is accepted, duplicates dropped');
    assert.match(hook.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.equal(hook.secret_hint, hook.secret.slice(-4));

    const got = await admin.client.get(`/api/v1/webhooks/${hook.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.data.secret, undefined, 'the secret never leaves the API again');
    assert.equal(got.body.data.description, 'EHR sync');
    const list = await admin.client.get('/api/v1/webhooks');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.data.map((w: { id: string }) => w.id), [hook.id]);
    assert.equal(list.body.pagination.total, 1);
    assert.equal(list.body.data[0].secret, undefined);
  });

  it('POST /webhooks keeps a secret the integrator chose', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/webhooks', { url: 'https://x.example/h', events: ['ticket.created'], secret: 'my-own-secret-0123456789' });
    assert.equal(res.status, 201);
    assert.equal(res.body.data.secret, 'my-own-secret-0123456789');
  });

  it('POST /webhooks returns 400 naming the field for a non-https URL, unknown events, no events and a short secret', async () => {
    const { admin } = await createTestOrg();
    const post = (body: unknown) => admin.client.post('/api/v1/webhooks', body);
    const plainHttp = await post({ url: 'http://integrator.example/h', events: ['patient.created'] });
    assert.equal(plainHttp.status, 400);
    assert.deepEqual(fields(plainHttp), ['url']);
    assert.match(plainHttp.body.error.message, /https/);
    for (const url of ['ftp://x.example/h', 'not a url', 'https://user:pw@x.example/h']) {
      const res = await post({ url, events: ['patient.created'] });
      assert.equal(res.status, 400, url);
      assert.deepEqual(fields(res), ['url'], url);
    }
    const unknown = await post({ url: 'https://x.example/h', events: ['patient.created', 'patient.exploded'] });
    assert.equal(unknown.status, 400);
    assert.deepEqual(fields(unknown), ['events.1']);
    const none = await post({ url: 'https://x.example/h', events: [] });
    assert.deepEqual(fields(none), ['events']);
    const missing = await post({ events: ['patient.created'], secret: 'short' });
    assert.deepEqual(fields(missing), ['secret', 'url']);
    assert.equal((await admin.client.get('/api/v1/webhooks')).body.pagination.total, 0, 'nothing was created');
  });

  it('accepts http for a receiver on localhost (development)', async () => {
    const { admin } = await createTestOrg();
    for (const url of ['http://localhost:9000/h', 'http://127.0.0.1:9000/h', 'http://[::1]:9000/h']) {
      assert.equal((await admin.client.post('/api/v1/webhooks', { url, events: ['patient.created'] })).status, 201, url);
    }
  });

  it('PATCH /webhooks/:id changes events, disables, rotates the secret (shown once) and checks the URL', async () => {
    const { admin } = await createTestOrg();
    const created = (await admin.client.post('/api/v1/webhooks', { url: 'https://x.example/h', events: ['patient.created'] })).body.data;
    const patched = await admin.client.patch(`/api/v1/webhooks/${created.id}`, { events: ['ticket.created', 'ticket.resolved'], status: 'disabled' });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.data.events, ['ticket.created', 'ticket.resolved']);
    assert.equal(patched.body.data.status, 'disabled');
    assert.equal(patched.body.data.secret, undefined);

    const rotated = await admin.client.patch(`/api/v1/webhooks/${created.id}`, { rotate_secret: true });
    assert.equal(rotated.status, 200);
    assert.match(rotated.body.data.secret, /^whsec_/);
    assert.notEqual(rotated.body.data.secret, created.secret);

    const bad = await admin.client.patch(`/api/v1/webhooks/${created.id}`, { url: 'http://x.example/h' });
    assert.equal(bad.status, 400);
    assert.deepEqual(fields(bad), ['url']);
    const unknownField = await admin.client.patch(`/api/v1/webhooks/${created.id}`, { colour: 'red' });
    assert.equal(unknownField.status, 400);
  });

  it('GET /webhooks?status=disabled lists webhooks disabled automatically (with disabled_reason) or by hand, each with disabled_at', async () => {
    const t = await createTestOrg();
    const c = t.admin.client;
    const gone = await startWebhookReceiver();
    const url = gone.url;
    await gone.close();
    const post = async (u: string) => (await c.post('/api/v1/webhooks', { url: u, events: ['patient.created'] })).body.data;
    const failing = await post(url);
    const byHand = await post('https://x.example/h');
    const healthy = await post('https://y.example/h');
    await failForGood(t, failing.id, 1);
    await streakBegan(t, failing.id, '2 days');
    await failForGood(t, failing.id, 4);
    const off = await c.patch(`/api/v1/webhooks/${byHand.id}`, { status: 'disabled' });
    assert.equal(off.body.data.disabled_reason, null, 'an admin needs no reason');
    assert.match(off.body.data.disabled_at, /Z$/);

    const disabled = await c.get('/api/v1/webhooks?status=disabled');
    assert.equal(disabled.status, 200);
    assert.deepEqual(disabled.body.data.map((w: { id: string }) => w.id).sort(), [failing.id, byHand.id].sort());
    const auto = (await c.get(`/api/v1/webhooks/${failing.id}`)).body.data;
    assert.equal(auto.status, 'disabled');
    assert.match(auto.disabled_reason, /^Disabled automatically: 5 deliveries in a row failed .*\(last error: ECONNREFUSED\)$/);
    assert.match(auto.disabled_at, /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.deepEqual(disabled.body.data.find((w: { id: string }) => w.id === failing.id), auto, 'the list presents it the same way');
    const active = await c.get('/api/v1/webhooks?status=active');
    assert.deepEqual(active.body.data.map((w: { id: string; disabled_at: string | null }) => [w.id, w.disabled_at]), [[healthy.id, null]]);

    const badQuery = await c.get('/api/v1/webhooks?status=paused');
    assert.equal(badQuery.status, 400);
    assert.deepEqual(fields(badQuery), ['status']);
    const badPatch = await c.patch(`/api/v1/webhooks/${failing.id}`, { status: 'enabled' });
    assert.equal(badPatch.status, 400);
    assert.deepEqual(fields(badPatch), ['status']);
    assert.equal((await c.get(`/api/v1/webhooks/${failing.id}`)).body.data.status, 'disabled', 'unchanged');
  });

  it('DELETE /webhooks/:id removes it; then it answers 404', async () => {
    const { admin } = await createTestOrg();
    const created = (await admin.client.post('/api/v1/webhooks', { url: 'https://x.example/h', events: ['patient.created'] })).body.data;
    const del = await admin.client.delete(`/api/v1/webhooks/${created.id}`);
    assert.equal(del.status, 200);
    assert.equal((await admin.client.get(`/api/v1/webhooks/${created.id}`)).status, 404);
    assert.equal((await admin.client.delete(`/api/v1/webhooks/${created.id}`)).status, 404);
  });

  it("answers 404 for another organization's webhook on every route", async () => {
    const mine = await createTestOrg();
    const other = await createTestOrg();
    const theirs = (await other.admin.client.post('/api/v1/webhooks', { url: 'https://x.example/h', events: ['patient.created'] })).body.data;
    const c = mine.admin.client;
    assert.equal((await c.get(`/api/v1/webhooks/${theirs.id}`)).status, 404);
    assert.equal((await c.patch(`/api/v1/webhooks/${theirs.id}`, { status: 'disabled' })).status, 404);
    assert.equal((await c.get(`/api/v1/webhooks/${theirs.id}/deliveries`)).status, 404);
    assert.equal((await c.post(`/api/v1/webhooks/${theirs.id}/test`)).status, 404);
    assert.equal((await c.delete(`/api/v1/webhooks/${theirs.id}`)).status, 404);
    assert.equal((await c.get('/api/v1/webhooks')).body.pagination.total, 0);
    assert.equal((await other.admin.client.get(`/api/v1/webhooks/${theirs.id}`)).body.data.status, 'active', 'untouched');
  });

  it('returns 403 naming webhook.manage to staff and providers', async () => {
    const t = await createTestOrg();
    for (const role of ['staff', 'provider'] as const) {
      const user = await createTestUser(t.svc, t.org.id, role);
      const res = await user.client.get('/api/v1/webhooks');
      assert.equal(res.status, 403, role);
      assert.equal(res.body.error.details.required_permission, 'webhook.manage');
      assert.equal((await user.client.post('/api/v1/webhooks', { url: 'https://x.example/h', events: ['patient.created'] })).status, 403);
    }
  });

  it("POST /webhooks/:id/test sends a signed webhook.test now and reports the receiver's answer", async () => {
    const { admin, org } = await createTestOrg();
    const receiver = await startWebhookReceiver();
    try {
      const hook = (await admin.client.post('/api/v1/webhooks', { url: receiver.url, events: ['ticket.created'] })).body.data;
      const res = await admin.client.post(`/api/v1/webhooks/${hook.id}/test`);
      assert.equal(res.status, 200);
      assert.equal(res.body.data.status, 'succeeded');
      assert.equal(res.body.data.response_status, 200);
      assert.equal(res.body.data.attempts, 1);
      assert.equal(res.body.data.event, 'webhook.test');
      assert.equal(receiver.received.length, 1, 'sent before the answer');
      const [got] = receiver.received;
      assert.equal(got!.payload.event, 'webhook.test');
      assert.equal(got!.payload.organization_id, org.id);
      assert.equal(got!.headers['x-webhook-signature'], expectedSignature(got!.rawBody, hook.secret));

      receiver.respond = () => ({ status: 503 });
      const failing = await admin.client.post(`/api/v1/webhooks/${hook.id}/test`);
      assert.equal(failing.status, 200);
      assert.equal(failing.body.data.status, 'pending', 'retried later like any delivery');
      assert.equal(failing.body.data.response_status, 503);
      assert.equal(failing.body.data.last_error, 'HTTP 503');
      assert.match(failing.body.message, /failed/);

      const list = await admin.client.get(`/api/v1/webhooks/${hook.id}/deliveries`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.data.map((d: { status: string }) => d.status), ['pending', 'succeeded'], 'newest first');
      const onlyOk = await admin.client.get(`/api/v1/webhooks/${hook.id}/deliveries?status=succeeded`);
      assert.equal(onlyOk.body.pagination.total, 1);
    } finally {
      await receiver.close();
    }
  });

  it('POST /webhooks/:id/test reports a receiver that cannot be reached', async () => {
    const { admin } = await createTestOrg();
    const receiver = await startWebhookReceiver();
    const url = receiver.url;
    await receiver.close();
    const hook = (await admin.client.post('/api/v1/webhooks', { url, events: ['ticket.created'] })).body.data;
    const res = await admin.client.post(`/api/v1/webhooks/${hook.id}/test`);
    assert.equal(res.status, 200);
    assert.equal(res.body.data.status, 'pending');
    assert.equal(res.body.data.response_status, null);
    assert.equal(res.body.data.last_error, 'ECONNREFUSED');
  });
});
