import assert from 'node:assert/strict';
import { createTestOrg, buildPatient, buildConversation } from '../support/factories.js';
import { ApiClient } from '../support/client.js';

describe('/api/v1/messages', () => {
  it("POST /messages queues on the channel of the patient's latest conversation", async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    const conv = await buildConversation(t, { patient, channel: 'telegram', address: '42424242' });
    const res = await t.admin.client.post('/api/v1/messages', { patient_id: patient.id, content: 'Hello, this is a test message from the API', content_type: 'text' });
    assert.equal(res.status, 202);
    assert.equal(res.body.data.status, 'queued');
    assert.equal(res.body.data.sender, 'system');
    assert.equal(res.body.data.channel, 'telegram');
    assert.equal(res.body.data.conversation_id, conv.id);
    assert.equal(res.body.data.patient_id, patient.id);
    const row = await t.svc.deps.db.knex('messages').where({ id: res.body.data.id }).first();
    assert.equal(row.to_address, '42424242');
    assert.equal(row.direction, 'outbound');
  });

  it('POST /messages with a phone channel opens a conversation addressed to the patient phone', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    const res = await t.admin.client.post('/api/v1/messages', { patient_id: patient.id, content: 'Your results are ready', channel: 'sms' });
    assert.equal(res.status, 202);
    const conv = await t.admin.client.get(`/api/v1/conversations/${res.body.data.conversation_id}`);
    assert.equal(conv.body.data.channel, 'sms');
    assert.equal(conv.body.data.patient_id, patient.id);
    assert.equal(conv.body.data.messages.length, 1);
    const row = await t.svc.deps.db.knex('messages').where({ id: res.body.data.id }).first();
    assert.equal(row.to_address, patient.phone);
  });

  it('POST /messages returns 422 when the patient has no address on the channel, 400 without a channel to use', async () => {
    const t = await createTestOrg();
    const noPhone = await buildPatient(t, { phone: null });
    const sms = await t.admin.client.post('/api/v1/messages', { patient_id: noPhone.id, content: 'Hi', channel: 'sms' });
    assert.equal(sms.status, 422);
    assert.equal(sms.body.error.details.field, 'channel');
    const tg = await t.admin.client.post('/api/v1/messages', { patient_id: noPhone.id, content: 'Hi', channel: 'telegram' });
    assert.equal(tg.status, 422);
    const none = await t.admin.client.post('/api/v1/messages', { patient_id: noPhone.id, content: 'Hi' });
    assert.equal(none.status, 400);
    assert.equal(none.body.error.details.fields[0].field, 'channel');
  });

  it('POST /messages returns 400 naming fields, 404 for another organization patient, 401 and 403', async () => {
    const t = await createTestOrg();
    const bad = await t.admin.client.post('/api/v1/messages', { channel: 'pigeon' });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort(), ['channel', 'content', 'patient_id']);
    const other = await createTestOrg();
    const foreign = await buildPatient(other);
    assert.equal((await t.admin.client.post('/api/v1/messages', { patient_id: foreign.id, content: 'Hi', channel: 'sms' })).status, 404);
    assert.equal((await new ApiClient(t.svc.url).post('/api/v1/messages', { patient_id: foreign.id, content: 'Hi' })).status, 401);
    // An API key narrowed to reading patients lacks communication.send.
    const key = await t.admin.client.post('/api/v1/api-keys', { name: 'read only', scopes: ['patient.view'] });
    assert.equal(key.status, 201);
    const patient = await buildPatient(t);
    const denied = await t.admin.client.as(key.body.data.key).post('/api/v1/messages', { patient_id: patient.id, content: 'Hi', channel: 'sms' });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.details.required_permission, 'communication.send');
  });
});
