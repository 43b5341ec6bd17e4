import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildPatient, buildConversation, insertConversation } from '../support/factories.js';
import { startExtraService } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { FakeChannel } from '../support/fakeChannel.js';
import { createLogger } from '../../lib/logger.js';
import { ChannelRegistry } from '../../channels/registry.js';
import { OutboundDispatcher } from '../../channels/dispatcher.js';
import { findOrCreateOpenConversation, getConversation, updateDialogueState } from '../../models/conversations.js';
import { storeInboundMessage, queueOutboundMessage, Message } from '../../models/messages.js';
import { storeInboundInOpenConversation } from '../../models/turns.js';

describe('/api/v1/conversations', () => {
  it("GET /conversations and GET /conversations/export read a date-only range as whole days of the clinic's time zone", async () => {
    const t = await createTestOrg({ timeZone: 'Asia/Kolkata' });
    // 2026-03-10 in Kolkata (UTC+05:30) runs from 2026-03-09T18:30Z to 2026-03-10T18:30Z.
    const justBefore = await insertConversation(t, { startedAt: new Date('2026-03-09T18:29:00Z') });
    const firstMinute = await insertConversation(t, { startedAt: new Date('2026-03-09T18:30:00Z') });
    const lastMinute = await insertConversation(t, { startedAt: new Date('2026-03-10T18:29:00Z') });
    const justAfter = await insertConversation(t, { startedAt: new Date('2026-03-10T18:30:00Z') });
    const listed = await t.admin.client.get('/api/v1/conversations?start_date=2026-03-10&end_date=2026-03-10&limit=100');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.data.map((c: { id: string }) => c.id).sort(), [firstMinute.id, lastMinute.id].sort());
    const instants = await t.admin.client.get('/api/v1/conversations?start_date=2026-03-09T18:29:00Z&end_date=2026-03-10T18:30:00Z&limit=100');
    assert.equal(instants.body.pagination.total, 4, 'date-times are instants, the end included');
    const exported = await t.admin.client.get('/api/v1/conversations/export?start_date=2026-03-10&end_date=2026-03-10&format=ndjson');
    assert.equal(exported.status, 200);
    const ids = exported.text.trim().split('\n').map((line) => JSON.parse(line).id).sort();
    assert.deepEqual(ids, [firstMinute.id, lastMinute.id].sort());
    assert.ok(![justBefore.id, justAfter.id].some((id) => ids.includes(id)));
  });

  it('GET /conversations lists with patient names and filters by status, channel, patient, language and escalation', async () => {
    const t = await createTestOrg();
    const ana = await buildPatient(t, { name: 'Ana Sms', preferred_language: 'es' });
    const bob = await buildPatient(t, { name: 'Bob Web', preferred_language: 'en' });
    const smsConv = await buildConversation(t, { patient: ana, channel: 'sms', inbound: ['Hola', 'Una cita por favor'] });
    const webConv = await buildConversation(t, { patient: bob, channel: 'webchat' });
    await t.admin.client.post(`/api/v1/conversations/${webConv.id}/handoff`, { reason: 'asked for a human' });

    const all = await t.admin.client.get('/api/v1/conversations');
    assert.equal(all.status, 200);
    assert.equal(all.body.pagination.total, 2);
    const sms = all.body.data.find((c: { id: string }) => c.id === smsConv.id);
    assert.equal(sms.patient_name, 'Ana Sms');
    assert.equal(sms.message_count, 2);
    assert.equal(sms.status, 'bot');
    assert.equal(sms.end_time, null);
    assert.match(sms.start_time, /Z$/);

    const ids = async (q: string) => (await t.admin.client.get(`/api/v1/conversations?${q}`)).body.data.map((c: { id: string }) => c.id);
    assert.deepEqual(await ids('status=handoff'), [webConv.id]);
    assert.deepEqual(await ids('escalated=true'), [webConv.id]);
    assert.deepEqual(await ids('escalated=false'), [smsConv.id]);
    assert.deepEqual(await ids('channel=sms'), [smsConv.id]);
    assert.deepEqual(await ids(`patient_id=${bob.id}`), [webConv.id]);
    assert.deepEqual(await ids('language=es'), [smsConv.id]);
    const today = new Date().toISOString().slice(0, 10);
    assert.equal((await ids(`start_date=${today}&end_date=${today}`)).length, 2, 'a date-only end_date covers the whole day');
    assert.deepEqual(await ids('start_date=2999-01-01'), []);
    const page = await t.admin.client.get('/api/v1/conversations?limit=1&page=2&sort=created_at:asc');
    assert.deepEqual(page.body.pagination, { page: 2, limit: 1, total: 2, total_pages: 2 });
    assert.deepEqual(page.body.data.map((c: { id: string }) => c.id), [webConv.id]);
  });

  it('GET /conversations returns 400 naming bad filters and 401 without a token', async () => {
    const t = await createTestOrg();
    const bad = await t.admin.client.get('/api/v1/conversations?status=open&start_date=yesterday&sort=secret:asc');
    assert.equal(bad.status, 400);
    const fields = bad.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(fields, ['start_date', 'status']);
    const anon = await new ApiClient(t.svc.url).get('/api/v1/conversations');
    assert.equal(anon.status, 401);
  });

  it('GET /conversations/:id returns the messages oldest first with metadata; 404 for another organization', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t, { inbound: ['Hola'] });
    await queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, {
      conversationId: conv.id, patientId: conv.patient_id, channel: conv.channel, to: conv.channel_address,
      text: '¡Hola! ¿En qué puedo ayudarte?', sender: 'assistant', options: [{ value: 'book', label: 'Pedir cita' }],
    });
    const res = await t.admin.client.get(`/api/v1/conversations/${conv.id}`);
    assert.equal(res.status, 200);
    const msgs = res.body.data.messages;
    assert.deepEqual(msgs.map((m: { sender: string }) => m.sender), ['patient', 'assistant']);
    assert.equal(msgs[0].content, 'Hola');
    assert.equal(msgs[1].status, 'queued');
    assert.deepEqual(msgs[1].options, [{ value: 'book', label: 'Pedir cita' }]);
    assert.deepEqual(res.body.data.metadata, { intent: null, sentiment: null, escalated: false });
    assert.equal(res.body.data.message_count, 2);

    const other = await createTestOrg();
    assert.equal((await other.admin.client.get(`/api/v1/conversations/${conv.id}`)).status, 404);
  });

  it('POST /conversations/:id/messages queues a staff reply, hands the conversation to that user and reaches the channel', async () => {
    const svc = await startExtraService();
    const t = await createTestOrg({ svc });
    const staff = await createTestUser(svc, t.org.id, 'staff');
    const fake = new FakeChannel({ name: 'telegram' });
    const dispatcher = new OutboundDispatcher(svc.deps.db, new ChannelRegistry([fake]), createLogger('silent'), {
      pollMs: 60_000, batchSize: 10, leaseSeconds: 30, maxAttempts: 3, backoff: [1000], organizationIds: [t.org.id],
    });
    const pushed: [string, string][] = [];
    svc.deps.hooks.outboundQueued = () => dispatcher.kick();
    svc.deps.hooks.staffMessageQueued = (c, m) => pushed.push([c, m]);
    dispatcher.start();
    try {
      const conv = await buildConversation(t, { channel: 'telegram', address: '777123' });
      const res = await staff.client.post(`/api/v1/conversations/${conv.id}/messages`, { content: 'Hi, this is Laura from the front desk.' });
      assert.equal(res.status, 201);
      assert.equal(res.body.data.sender, 'staff');
      assert.equal(res.body.data.sender_user_id, staff.user.id);
      assert.equal(res.body.data.status, 'queued');
      assert.deepEqual(pushed, [[conv.id, res.body.data.id]]);
      await fake.waitForSends(1);
      assert.equal(fake.sent[0].id, res.body.data.id);
      assert.equal(fake.sent[0].to, '777123');
      assert.equal(fake.sent[0].sender, 'staff');

      const after = await staff.client.get(`/api/v1/conversations/${conv.id}`);
      assert.equal(after.body.data.status, 'handoff');
      assert.equal(after.body.data.assignee, staff.user.id);
      assert.equal(after.body.data.escalated, true);
      const events = await svc.deps.db.knex('events').where({ organization_id: t.org.id, subject_id: conv.id }).pluck('event');
      assert.ok(events.includes('conversation.escalated'));
    } finally {
      await dispatcher.stop();
    }
  });

  it('POST /conversations/:id/messages returns 400 without content and 409 on a closed conversation', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t);
    const empty = await t.admin.client.post(`/api/v1/conversations/${conv.id}/messages`, { content: '  ' });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.details.fields[0].field, 'content');
    assert.equal((await t.admin.client.post(`/api/v1/conversations/${conv.id}/close`)).status, 200);
    const closed = await t.admin.client.post(`/api/v1/conversations/${conv.id}/messages`, { content: 'Hello?' });
    assert.equal(closed.status, 409);
  });

  it('handoff, resume and close move the conversation through its states and refuse invalid transitions', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const conv = await buildConversation(t);
    await t.svc.deps.db.knex('conversations').where({ id: conv.id }).update({ dialogue_state: JSON.stringify({ step: 'pick_slot', lang: 'es' }) });

    assert.equal((await t.admin.client.post(`/api/v1/conversations/${conv.id}/resume`)).status, 409, 'a bot conversation cannot be resumed');
    const handoff = await t.admin.client.post(`/api/v1/conversations/${conv.id}/handoff`, { reason: 'billing question', assignee_id: staff.user.id });
    assert.equal(handoff.status, 200);
    assert.equal(handoff.body.data.status, 'handoff');
    assert.equal(handoff.body.data.assignee, staff.user.id);
    assert.equal(handoff.body.data.metadata.escalated, true);

    const resumed = await t.admin.client.post(`/api/v1/conversations/${conv.id}/resume`);
    assert.equal(resumed.body.data.status, 'bot');
    assert.equal(resumed.body.data.assignee, null);
    const row = await getConversation(t.svc.deps.db.knex, { organizationId: t.org.id }, conv.id);
    assert.deepEqual(row.dialogue_state, { lang: 'es' }, 'the dialogue step is cleared, the rest kept');

    const closed = await t.admin.client.post(`/api/v1/conversations/${conv.id}/close`);
    assert.equal(closed.body.data.status, 'closed');
    assert.match(closed.body.data.end_time, /Z$/);
    assert.equal((await t.admin.client.post(`/api/v1/conversations/${conv.id}/close`)).status, 409);
    assert.equal((await t.admin.client.post(`/api/v1/conversations/${conv.id}/handoff`)).status, 409);
    const events = await t.svc.deps.db.knex('events').where({ subject_id: conv.id }).pluck('event');
    assert.ok(events.includes('conversation.escalated') && events.includes('conversation.closed'));
  });

  it('POST /conversations/:id/handoff returns 422 naming assignee_id for a user of another organization; 403 for a provider', async () => {
    const t = await createTestOrg();
    const other = await createTestOrg();
    const conv = await buildConversation(t);
    const res = await t.admin.client.post(`/api/v1/conversations/${conv.id}/handoff`, { assignee_id: other.admin.user.id });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.details.field, 'assignee_id');
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const forbidden = await provider.client.post(`/api/v1/conversations/${conv.id}/handoff`, {});
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.details.required_permission, 'conversation.manage');
  });

  it('DELETE /conversations/:id soft-deletes for an admin (messages gone, queued replies cancelled); a provider gets 403', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t);
    const queued = await queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, {
      conversationId: conv.id, channel: conv.channel, to: conv.channel_address, text: 'Reminder', sender: 'assistant',
    });
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const denied = await provider.client.delete(`/api/v1/conversations/${conv.id}`);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.details.required_permission, 'conversation.delete');

    const other = await createTestOrg();
    assert.equal((await other.admin.client.delete(`/api/v1/conversations/${conv.id}`)).status, 404);

    const del = await t.admin.client.delete(`/api/v1/conversations/${conv.id}`);
    assert.equal(del.status, 200);
    assert.equal(del.body.message, 'Conversation deleted successfully');
    assert.equal((await t.admin.client.get(`/api/v1/conversations/${conv.id}`)).status, 404);
    assert.equal((await t.admin.client.get('/api/v1/conversations')).body.pagination.total, 0);
    assert.equal((await Message.query(t.svc.deps.db.knex).findById(queued.id))!.status, 'cancelled');
  });
});

describe('conversation domain operations', () => {
  it('storeInboundMessage stores a redelivered provider message once', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t, { inbound: [] });
    const scope = { organizationId: t.org.id };
    const input = {
      conversationId: conv.id, patientId: conv.patient_id, channel: conv.channel, from: conv.channel_address,
      text: 'Quiero cancelar', providerMessageId: 'SM-dup-1', clientMessageId: null, contentType: 'text', receivedAt: new Date(),
    };
    const first = await storeInboundMessage(t.svc.deps.db.knex, scope, input);
    const second = await storeInboundMessage(t.svc.deps.db.knex, scope, input);
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.message.id, first.message.id);
    assert.equal((await getConversation(t.svc.deps.db.knex, scope, conv.id)).message_count, 1);
  });

  it('an inbound message moves its patient\'s last activity to the minute, whichever way it is stored', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t, { inbound: [] });
    const db = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const activity = async () => new Date((await db('patients').where({ id: conv.patient_id }).first('last_activity_at')).last_activity_at).getTime();
    const t0 = await activity();
    const at = (ms: number) => new Date(t0 + ms);
    const viaTransaction = (ms: number, id: string) => storeInboundMessage(db, scope, {
      conversationId: conv.id, patientId: conv.patient_id, channel: conv.channel, from: conv.channel_address,
      text: 'hola', providerMessageId: id, clientMessageId: null, contentType: 'text', receivedAt: at(ms),
    });
    // The engine's one-statement store.
    const viaOneStatement = (ms: number, id: string) => storeInboundInOpenConversation(db, scope, {
      channel: conv.channel, from: conv.channel_address, senderPatientId: null, senderLanguage: null, text: 'hola',
      providerMessageId: id, clientMessageId: null, receivedAt: at(ms), idleMinutes: 24 * 60,
    });
    await viaTransaction(30_000, 'SM-act-1');
    assert.equal(await activity(), t0, 'within a minute: unchanged');
    await viaTransaction(90_000, 'SM-act-2');
    assert.equal(await activity(), t0 + 90_000);
    assert.ok((await viaOneStatement(120_000, 'SM-act-3'))?.messageId);
    assert.equal(await activity(), t0 + 90_000, 'within a minute: unchanged');
    await viaOneStatement(200_000, 'SM-act-4');
    assert.equal(await activity(), t0 + 200_000);
    assert.equal((await getConversation(db, scope, conv.id)).message_count, 4);
  });

  it('findOrCreateOpenConversation reuses the open one, closes an idle one and survives a race', async () => {
    const t = await createTestOrg();
    const db = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const now = new Date();
    const base = { channel: 'sms', address: '+34600000001', idleMinutes: 60, now };
    const [a, b] = await Promise.all([findOrCreateOpenConversation(db, scope, base), findOrCreateOpenConversation(db, scope, base)]);
    assert.equal(a.id, b.id, 'one open conversation per address, even when two messages race');
    assert.equal((await findOrCreateOpenConversation(db, scope, { ...base, now: new Date(now.getTime() + 30 * 60_000) })).id, a.id);
    const later = await findOrCreateOpenConversation(db, scope, { ...base, now: new Date(now.getTime() + 61 * 60_000) });
    assert.notEqual(later.id, a.id);
    const old = await db('conversations').where({ id: a.id }).first();
    assert.equal(old.status, 'closed');
    assert.ok(old.closed_at);
  });

  it('updateDialogueState loses a race on a stale version', async () => {
    const t = await createTestOrg();
    const conv = await buildConversation(t);
    const scope = { organizationId: t.org.id };
    const db = t.svc.deps.db.knex;
    assert.equal(await updateDialogueState(db, scope, conv.id, conv.state_version, { step: 'a' }), true);
    assert.equal(await updateDialogueState(db, scope, conv.id, conv.state_version, { step: 'b' }), false);
    const row = await getConversation(db, scope, conv.id);
    assert.deepEqual(row.dialogue_state, { step: 'a' });
    assert.equal(row.state_version, conv.state_version + 1);
  });
});
