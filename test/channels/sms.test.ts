import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningService } from '../../main.js';
import { TwilioSmsAdapter, SMS_STATUS_PATH } from '../../channels/sms/adapter.js';
import { smsKeyword } from '../../channels/sms/webhooks.js';
import { ProviderRefusedError, ProviderUnreachableError, type OutboundMessage } from '../../channels/types.js';
import { testConfig, testService } from '../support/service.js';
import { createLogger } from '../../lib/logger.js';
import { buildPatient } from '../support/factories.js';
import {
  FakeTwilio, FAKE_ACCOUNT_SID, FAKE_FROM_NUMBER, FAKE_PUBLIC_URL, closedPortUrl, newInboundSid, postSignedForm, sendInboundSms, sendStatusCallback, twilioEnv,
} from '../support/fakeTwilio.js';
import { clientOn, smsOrg, startSmsService, stopSmsServices } from '../support/smsService.js';
import { Message } from '../../models/messages.js';

const outbound = (to: string, text = 'Hola'): OutboundMessage => ({
  id: 'msg_test', organizationId: 'org_test', channel: 'sms', to, text, options: null, conversationId: null, sender: 'staff', createdAt: new Date(),
});

describe('SMS channel (Twilio)', () => {
  let fake: FakeTwilio;

  before(async function () {
    this.timeout(60_000);
    await testService();
    fake = await new FakeTwilio().start();
  });
  afterEach(async () => {
    fake.ok();
    await stopSmsServices();
  });
  after(async () => {
    await fake.stop();
  });

  const knexOf = (svc: RunningService) => svc.deps.db.knex;
  const inboundRows = (svc: RunningService, sid: string) => Message.query(knexOf(svc)).where({ channel: 'sms', direction: 'inbound', provider_message_id: sid });

  describe('sending', () => {
    it('sends through the Twilio REST API with the sender number, the account credentials and the status callback URL', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const p = await buildPatient(t, { name: 'Ana López' });
      const res = await (await clientOn(svc, t)).post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'Hola {{first_name}}' });
      assert.equal(res.status, 202);
      const [sent] = await fake.waitFor(p.phone!);
      assert.equal(sent.body, 'Hola Ana');
      assert.equal(sent.from, FAKE_FROM_NUMBER);
      assert.equal(sent.messagingServiceSid, null);
      assert.equal(sent.authUser, FAKE_ACCOUNT_SID);
      assert.equal(sent.statusCallback, `${FAKE_PUBLIC_URL}${SMS_STATUS_PATH}`);
      await waitForStatus(svc, res.body.data.id, 'sent');
      const row = await knexOf(svc)('messages').where({ id: res.body.data.id }).first();
      assert.equal(row.provider_message_id, sent.sid);
      assert.match(sent.sid, /^SM[0-9a-f]{32}$/);
    });

    it('sends from the messaging service when TWILIO_MESSAGING_SERVICE_SID is set', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id], { env: { TWILIO_FROM_NUMBER: '', TWILIO_MESSAGING_SERVICE_SID: `MG${'2'.repeat(32)}` } });
      const p = await buildPatient(t);
      await (await clientOn(svc, t)).post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'Hi' });
      const [sent] = await fake.waitFor(p.phone!);
      assert.equal(sent.messagingServiceSid, `MG${'2'.repeat(32)}`);
      assert.equal(sent.from, null);
    });

    it('maps Twilio answers: 21211 is a final refusal, 429/20429 a retryable one, 500 and refused connections unreachable', async () => {
      const adapter = new TwilioSmsAdapter({ config: testConfig(twilioEnv(fake)), logger: createLogger('silent') });
      await adapter.start();
      fake.refuse(1);
      await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderRefusedError && err.code === '21211' && !err.retryable);
      fake.refuse(1, 20429, 429);
      await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderRefusedError && err.code === '20429' && err.retryable);
      assert.equal(adapter.health().status, 'up', 'a refusal says nothing about the channel');
      fake.down('error500', 1);
      await assert.rejects(adapter.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderUnreachableError);
      assert.equal(adapter.health().status, 'down');
      const nowhere = new TwilioSmsAdapter({ config: testConfig(twilioEnv(fake, { TWILIO_API_BASE_URL: await closedPortUrl() })), logger: createLogger('silent') });
      await assert.rejects(nowhere.send(outbound('+34600000001')), (err: unknown) => err instanceof ProviderUnreachableError && /ECONNREFUSED/.test(err.message));
      const ok = await adapter.send(outbound('+34600000001', 'después'));
      assert.match(ok.providerMessageId!, /^SM/);
      assert.equal(adapter.health().status, 'up');
    });

    it('fails a message Twilio refuses (21211) without retrying, and retries one it could not reach', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const bad = await buildPatient(t);
      const flaky = await buildPatient(t);
      fake.refuseRecipient(bad.phone!);
      const r1 = await (await clientOn(svc, t)).post('/api/v1/communications/send', { patient_id: bad.id, channel: 'sms', message: 'x' });
      const failed = await waitForStatus(svc, r1.body.data.id, 'failed');
      assert.match(failed.last_error, /21211/);
      assert.equal(failed.attempts, 1);
      fake.down('error500', 1);
      const r2 = await (await clientOn(svc, t)).post('/api/v1/communications/send', { patient_id: flaky.id, channel: 'sms', message: 'y' });
      await waitUntil(async () => (await knexOf(svc)('messages').where({ id: r2.body.data.id }).first()).last_error !== null);
      const retry = await knexOf(svc)('messages').where({ id: r2.body.data.id }).first();
      assert.equal(retry.status, 'queued');
      assert.match(retry.last_error, /^unreachable/);
      assert.ok(new Date(retry.next_attempt_at).getTime() > Date.now(), 'backs off before the next attempt');
    });

    it('is off without credentials and says which settings are missing (GET /channels); its webhooks store nothing', async () => {
      const shared = await testService();
      const res = await (await clientOn(shared, await smsOrg())).get('/api/v1/channels');
      const sms = res.body.data.find((c: { name: string }) => c.name === 'sms');
      assert.deepEqual({ enabled: sms.enabled, status: sms.status }, { enabled: false, status: 'off' });
      assert.match(sms.detail, /TWILIO_ACCOUNT_SID/);
      assert.match(sms.detail, /TWILIO_AUTH_TOKEN/);
      const sid = newInboundSid();
      const hook = await sendInboundSms(shared.url, { from: '+34600000002', body: 'Hola', sid });
      assert.equal(hook.status, 503);
      assert.equal((await inboundRows(shared, sid)).length, 0);
      const partial = new TwilioSmsAdapter({ config: testConfig({ TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID, TWILIO_AUTH_TOKEN: 'x' }), logger: createLogger('silent') });
      assert.equal(partial.enabled, false);
      assert.match(partial.health().detail!, /TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID/);
    });
  });

  describe('inbound webhook', () => {
    it('answers an empty TwiML, hands the message to the engine, and the reply goes out through Twilio', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const p = await buildPatient(t, { preferred_language: 'es' });
      const sid = newInboundSid();
      const res = await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'Hola', sid });
      assert.equal(res.status, 200);
      assert.match(res.type!, /text\/xml/);
      assert.match(res.text, /<Response\/>$/);
      const [stored] = await inboundRows(svc, sid);
      assert.equal(stored.organization_id, t.org.id);
      assert.equal(stored.patient_id, p.id);
      assert.equal(stored.content, 'Hola');
      const replies = await fake.waitFor(p.phone!);
      assert.ok(replies[0].body.length > 0);
      const conv = await knexOf(svc)('conversations').where({ id: stored.conversation_id }).first();
      assert.deepEqual([conv.channel, conv.channel_address], ['sms', p.phone]);
    });

    it('answers 403 and stores nothing when the signature is wrong or missing', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const sid = newInboundSid();
      const wrong = await sendInboundSms(svc.url, { from: '+34600000003', to: t.smsNumber, body: 'Hola', sid }, { signature: 'bm90IGEgc2lnbmF0dXJl' });
      assert.equal(wrong.status, 403);
      const otherToken = await sendInboundSms(svc.url, { from: '+34600000003', to: t.smsNumber, body: 'Hola', sid }, { authToken: 'another-account-token' });
      assert.equal(otherToken.status, 403);
      const otherUrl = await sendInboundSms(svc.url, { from: '+34600000003', to: t.smsNumber, body: 'Hola', sid }, { publicUrl: 'https://evil.example' });
      assert.equal(otherUrl.status, 403);
      assert.equal((await inboundRows(svc, sid)).length, 0);
      assert.equal((await knexOf(svc)('conversations').where({ organization_id: t.org.id })).length, 0, 'no conversation either');
    });

    it('stores a redelivered MessageSid once and answers it once', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const p = await buildPatient(t);
      const sid = newInboundSid();
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'Hola', sid });
      await fake.waitFor(p.phone!);
      await settle(svc);
      const after1 = fake.to(p.phone!).length;
      const again = await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'Hola', sid });
      assert.equal(again.status, 200);
      await settle(svc);
      assert.equal((await inboundRows(svc, sid)).length, 1);
      assert.equal(fake.to(p.phone!).length, after1, 'no second reply');
    });

    it('stores an MMS with its media, and a NumMedia out of range neither sizes the media list nor fails the webhook', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const p = await buildPatient(t);
      const mms = (numMedia: string) => {
        const sid = newInboundSid();
        const params = {
          MessageSid: sid, SmsMessageSid: sid, AccountSid: FAKE_ACCOUNT_SID, From: p.phone!, To: t.smsNumber, Body: 'foto', NumMedia: numMedia,
          MediaUrl0: 'https://api.twilio.com/media/ME0', MediaContentType0: 'image/jpeg', MediaUrl1: 'https://api.twilio.com/media/ME1', MediaContentType1: 'image/png',
        };
        return { sid, post: () => postSignedForm('/api/v1/channels/sms/inbound', params, { serviceUrl: svc.url }) };
      };
      const two = mms('2');
      assert.equal((await two.post()).status, 200);
      const [stored] = await inboundRows(svc, two.sid);
      assert.deepEqual(stored.metadata.media, [
        { url: 'https://api.twilio.com/media/ME0', contentType: 'image/jpeg' }, { url: 'https://api.twilio.com/media/ME1', contentType: 'image/png' },
      ]);
      // 99999999999 made an array too long to exist (a 500); 1e9 one that ran the process out of memory.
      for (const numMedia of ['99999999999', '1e9', '-3', 'many']) {
        const m = mms(numMedia);
        const res = await m.post();
        assert.equal(res.status, 200, `NumMedia ${numMedia}`);
        const rows = await inboundRows(svc, m.sid);
        assert.equal(rows.length, 1, `NumMedia ${numMedia} stored`);
        assert.equal((rows[0]!.metadata.media as unknown[] | undefined)?.length ?? 0, ['-3', 'many'].includes(numMedia) ? 0 : 2, `NumMedia ${numMedia}`);
      }
    });

    it('STOP opts the patient out with a confirmation; afterwards neither the bot nor bulk sends reach them', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const p = await buildPatient(t, { preferred_language: 'en' });
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'STOP' });
      const [confirmation] = await fake.waitFor(p.phone!);
      assert.match(confirmation.body, /won't receive more messages/);
      const row = await knexOf(svc)('patients').where({ id: p.id }).first();
      assert.ok(row.opted_out_at, 'opted out');
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'I want an appointment' });
      const bulk = await (await clientOn(svc, t)).post('/api/v1/communications/send-bulk', { patient_ids: [p.id], channel: 'sms', message: 'News' });
      assert.equal(bulk.status, 202);
      await settle(svc);
      assert.equal(fake.to(p.phone!).length, 1, 'only the STOP confirmation');
      const bot = await knexOf(svc)('messages').where({ patient_id: p.id, direction: 'outbound', sender: 'assistant' });
      assert.ok(bot.length > 0 && bot.every((m: { status: string }) => m.status === 'skipped'), 'the bot answered, and its replies were skipped');
      const bulkRow = await knexOf(svc)('messages').where({ batch_id: bulk.body.data.id }).first();
      assert.equal(bulkRow.status, 'skipped');
    });

    it('START opts the patient back in; HELP answers without changing consent; Spanish and Catalan words work too', async () => {
      const t = await smsOrg();
      const svc = await startSmsService(fake, [t.org.id]);
      const p = await buildPatient(t, { preferred_language: 'es' });
      const optedOut = async () => Boolean((await knexOf(svc)('patients').where({ id: p.id }).first()).opted_out_at);
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'Baja' });
      await fake.waitFor(p.phone!, 1);
      assert.equal(await optedOut(), true);
      assert.match(fake.to(p.phone!)[0].body, /No recibirás más mensajes/);
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'AYUDA' });
      await fake.waitFor(p.phone!, 2);
      assert.match(fake.to(p.phone!)[1].body, /Puedo reservar/);
      assert.equal(await optedOut(), true, 'HELP changes nothing');
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'start' });
      await fake.waitFor(p.phone!, 3);
      assert.equal(await optedOut(), false);
      assert.match(fake.to(p.phone!)[2].body, /Bienvenido de nuevo/);
      await sendInboundSms(svc.url, { from: p.phone!, to: t.smsNumber, body: 'Prou!' });
      await fake.waitFor(p.phone!, 4);
      assert.equal(await optedOut(), true);
      assert.match(fake.to(p.phone!)[3].body, /No rebràs més missatges/);
    });

    it('recognizes whole-message keywords only', () => {
      assert.deepEqual(smsKeyword(' stop. '), { kind: 'opted_out', lang: null });
      assert.deepEqual(smsKeyword('UNSUBSCRIBE'), { kind: 'opted_out', lang: null });
      assert.deepEqual(smsKeyword('bajá'), { kind: 'opted_out', lang: 'es' });
      assert.deepEqual(smsKeyword('रोकें'), { kind: 'opted_out', lang: 'hi' });
      assert.deepEqual(smsKeyword('Ajuda'), { kind: 'help', lang: 'ca' });
      assert.deepEqual(smsKeyword('UNSTOP'), { kind: 'opted_in', lang: null });
      assert.equal(smsKeyword('please stop the appointment'), null);
      assert.equal(smsKeyword('cancel'), null, 'CANCEL answers reminders here');
      assert.equal(smsKeyword('yes'), null, 'YES confirms reminders here');
    });
  });

  describe('status callbacks', () => {
    it('move messages to delivered or failed (signed), and a bulk batch counts follow', async () => {
      const t = await smsOrg({ settings: { quiet_hours: null } }); // whatever the hour the test runs at, the bulk goes now
      const svc = await startSmsService(fake, [t.org.id]);
      const [a, b, c] = [await buildPatient(t), await buildPatient(t), await buildPatient(t)];
      const client = await clientOn(svc, t);
      const bulk = await client.post('/api/v1/communications/send-bulk', { patient_ids: [a.id, b.id, c.id], channel: 'sms', message: 'Closed on Friday' });
      assert.equal(bulk.status, 202);
      const batchId = bulk.body.data.id;
      await fake.waitUntil(() => [a, b, c].every((p) => fake.to(p.phone!).length === 1));
      await waitUntil(async () => (await client.get(`/api/v1/communications/batches/${batchId}`)).body.data.sent === 3);
      const sid = (p: { phone: string | null }) => fake.to(p.phone!)[0].sid;
      const forged = await sendStatusCallback(svc.url, { sid: sid(a), status: 'delivered', to: a.phone! }, { signature: 'Zm9yZ2Vk' });
      assert.equal(forged.status, 403);
      for (const [p, status, errorCode] of [[a, 'delivered'], [b, 'undelivered', '30003'], [c, 'sent']] as const) {
        const res = await sendStatusCallback(svc.url, { sid: sid(p), status, to: p.phone!, ...(errorCode ? { errorCode } : {}) });
        assert.equal(res.status, 200);
        assert.match(res.text, /<Response\/>$/);
      }
      // A late 'sent' after 'delivered' never moves it back; an unknown sid is fine.
      await sendStatusCallback(svc.url, { sid: sid(a), status: 'sent', to: a.phone! });
      assert.equal((await sendStatusCallback(svc.url, { sid: 'SMunknown', status: 'delivered' })).status, 200);
      const batch = (await client.get(`/api/v1/communications/batches/${batchId}`)).body.data;
      assert.deepEqual({ total: batch.total, sent: batch.sent, delivered: batch.delivered, failed: batch.failed, queued: batch.queued }, { total: 3, sent: 1, delivered: 1, failed: 1, queued: 0 });
      assert.equal(batch.status, 'completed');
      const failed = await knexOf(svc)('messages').where({ batch_id: batchId, patient_id: b.id }).first();
      assert.equal(failed.last_error, 'undelivered: 30003');
    });
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(25);
  }
}

async function waitForStatus(svc: RunningService, id: string, status: string): Promise<{ status: string; last_error: string; attempts: number }> {
  let row: { status: string; last_error: string; attempts: number } | undefined;
  await waitUntil(async () => (row = await svc.deps.db.knex('messages').where({ id }).first())?.status === status);
  return row!;
}

/** Lets the dispatcher finish whatever is queued now (and a little more for the engine's turn). */
async function settle(svc: RunningService): Promise<void> {
  await sleep(150);
  await svc.dispatcher.drain();
  await sleep(100);
  await svc.dispatcher.drain();
}
