import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningService } from '../../main.js';
import { Appointment } from '../../models/appointments.js';
import { Message } from '../../models/messages.js';
import { testService } from '../support/service.js';
import { buildPatient, uniquePhone } from '../support/factories.js';
import { clientOn, startSmsService } from '../support/smsService.js';
import { inboundRows, setupWhatsAppOrg, withFakeWhatsApp, waitUntil } from '../support/whatsappService.js';
import { buildClinic, engineClock } from '../bot/engineSupport.js';
import {
  FAKE_WA_APP_SECRET, FAKE_WA_PHONE_NUMBER_ID, FAKE_WA_TOKEN, FAKE_WA_VERIFY_TOKEN, WA_WEBHOOK, inboundMessage, newWamid,
  postNotification, statusNotification, uniquePhoneNumberId, waId, whatsappEnv, type FakeWaMessage, type InboundContent,
} from '../support/fakeWhatsApp.js';

describe('WhatsApp channel (Cloud API)', function () {
  this.timeout(30_000);
  const wa = withFakeWhatsApp();

  const knexOf = (svc: RunningService) => svc.deps.db.knex;

  const setup = (clock?: ReturnType<typeof engineClock>) => setupWhatsAppOrg(wa.fake, clock);

  /** Waits until none of the patient's (or address's) outbound messages is still waiting to be sent. */
  async function settled(svc: RunningService, address: string): Promise<void> {
    await waitUntil(async () => {
      const pending = await knexOf(svc)('messages').where({ channel: 'whatsapp', direction: 'outbound', to_address: address }).whereIn('status', ['queued', 'sending']);
      return pending.length === 0;
    });
  }

  /** Posts one signed inbound message and returns what the patient received in answer. */
  async function say(svc: RunningService, pnid: string, from: string, content: InboundContent, wamid = newWamid()): Promise<FakeWaMessage[]> {
    const before = wa.fake.to(from).length;
    const res = await postNotification(svc.url, inboundMessage(pnid, from, content, wamid));
    assert.equal(res.status, 200);
    await settled(svc, from);
    return wa.fake.to(from).slice(before);
  }

  describe('webhook verification (GET)', () => {
    it('answers the challenge as plain text when the verify token matches, 403 otherwise', async () => {
      const { svc } = await setup();
      const get = (q: Record<string, string>) => fetch(`${svc.url}${WA_WEBHOOK}?${new URLSearchParams(q).toString()}`);
      const ok = await get({ 'hub.mode': 'subscribe', 'hub.verify_token': FAKE_WA_VERIFY_TOKEN, 'hub.challenge': '1158201444' });
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get('content-type')!, /^text\/plain/);
      assert.equal(await ok.text(), '1158201444');
      const wrong = await get({ 'hub.mode': 'subscribe', 'hub.verify_token': 'guess', 'hub.challenge': '1158201444' });
      assert.equal(wrong.status, 403);
      assert.notEqual(await wrong.text(), '1158201444');
      assert.equal((await get({ 'hub.mode': 'unsubscribe', 'hub.verify_token': FAKE_WA_VERIFY_TOKEN, 'hub.challenge': '1' })).status, 403);
      assert.equal((await get({})).status, 403);
      // Without a configured verify token nothing verifies.
      const shared = await testService();
      assert.equal((await fetch(`${shared.url}${WA_WEBHOOK}?hub.mode=subscribe&hub.verify_token=&hub.challenge=1`)).status, 403);
    });
  });

  describe('inbound notifications (POST)', () => {
    it('hands a signed text from a new number to the engine, and the reply goes out through the Graph API as an interactive message', async () => {
      const { t, svc, pnid } = await setup();
      const phone = uniquePhone();
      const wamid = newWamid();
      const replies = await say(svc, pnid, phone, { text: 'Hola' }, wamid);
      const [stored] = await inboundRows(svc, wamid);
      assert.equal(stored.organization_id, t.org.id);
      assert.equal(stored.content, 'Hola');
      assert.equal(stored.from_address, phone);
      const conv = await knexOf(svc)('conversations').where({ id: stored.conversation_id }).first();
      assert.deepEqual([conv.channel, conv.channel_address], ['whatsapp', phone], 'the wa_id became the E.164 number');
      assert.ok(replies.length >= 1, 'the bot answered');
      const sent = replies.at(-1)!;
      assert.equal(sent.to, waId(phone));
      assert.equal(sent.phoneNumberId, FAKE_WA_PHONE_NUMBER_ID);
      assert.equal(sent.auth, `Bearer ${FAKE_WA_TOKEN}`);
      // The welcome menu has five options: more than three reply buttons hold, so it is a list (buttons: the booking test).
      assert.equal(sent.interactive?.type, 'list', JSON.stringify(sent.raw));
      assert.equal(sent.interactive.body.text, 'Hello! I can help you with your appointments. What would you like to do?');
      const rows = sent.interactive.action.sections![0].rows;
      assert.deepEqual(rows.map((r) => r.id), ['1', '2', '3', '4', '5'], 'the option values are the reply ids');
      assert.equal(rows[0].title, 'Book an appointment');
      const row = await knexOf(svc)('messages').where({ conversation_id: stored.conversation_id, direction: 'outbound', provider_message_id: sent.id }).first();
      assert.equal(row.status, 'sent');
    });

    it("links a Mexican wa_id (52 1 + ten digits) to the patient registered under the E.164 number (+52 + ten digits)", async () => {
      const { t, svc, pnid } = await setup();
      const patient = await buildPatient(t, { name: 'Lucía Pérez', phone: '+525512345678' });
      const wamid = newWamid();
      const res = await postNotification(svc.url, inboundMessage(pnid, '+5215512345678', { text: 'Hola' }, wamid));
      assert.equal(res.status, 200);
      const [stored] = await inboundRows(svc, wamid);
      assert.equal(stored.from_address, '+525512345678');
      assert.equal(stored.patient_id, patient.id, 'the message is the known patient\'s');
    });

    it('books an appointment end to end by WhatsApp: text, button and list replies', async () => {
      // The engine tests' clinic and fixed clock (Tuesday 5 March 2030, Madrid), so the offered times are known.
      const pnid = uniquePhoneNumberId();
      const t = await buildClinic(await testService(), { whatsapp_phone_number_id: pnid });
      const booking = await startSmsService(null, [t.org.id], { env: whatsappEnv(wa.fake), clock: engineClock() });
      const p = await buildPatient(t, { name: 'Ana López', preferred_language: 'en' });
      const phone = p.phone!;

      const specialty = (await say(booking, pnid, phone, { text: 'I want an appointment' })).at(-1)!;
      assert.equal(specialty.interactive?.type, 'button', JSON.stringify(specialty.raw));
      assert.deepEqual(specialty.interactive.action.buttons!.map((b) => [b.reply.id, b.reply.title]), [['1', 'Cardiology'], ['2', 'Dermatology']]);

      const day = (await say(booking, pnid, phone, { buttonReply: { id: '1', title: 'Cardiology' } })).at(-1)!;
      assert.equal(day.interactive?.type, 'list', JSON.stringify(day.raw));
      const dayRows = day.interactive.action.sections![0].rows;
      assert.equal(dayRows[1].title, 'Tomorrow');
      assert.equal(dayRows[1].id, '2');

      const slots = (await say(booking, pnid, phone, { listReply: { id: dayRows[1].id, title: dayRows[1].title } })).at(-1)!;
      assert.equal(slots.interactive?.type, 'list', JSON.stringify(slots.raw));
      const slotRows = slots.interactive.action.sections![0].rows;
      assert.ok(slotRows.length > 3 && slotRows.length <= 10);
      assert.ok(slotRows.every((r) => [...r.title].length <= 24));
      assert.match(slotRows[0].description ?? slotRows[0].title, /Wednesday 6 March, 08:00/);

      const confirm = (await say(booking, pnid, phone, { listReply: { id: slotRows[0].id, title: slotRows[0].title } })).at(-1)!;
      assert.match(confirm.text, /Wednesday 6 March, 08:00 with Dr\. Elena García/);
      assert.equal(confirm.interactive?.type, 'button');
      const yes = confirm.interactive.action.buttons![0].reply;

      const booked = await say(booking, pnid, phone, { buttonReply: yes });
      assert.match(booked.map((b) => b.text).join('\n'), /Room 1/);
      const appointments = await Appointment.query(knexOf(booking)).where({ organization_id: t.org.id, patient_id: p.id });
      assert.equal(appointments.length, 1);
      assert.equal(appointments[0]!.doctor_id, t.cardiology.id);
      assert.equal(appointments[0]!.source, 'whatsapp');
      const inbound = await Message.query(knexOf(booking)).where({ patient_id: p.id, direction: 'inbound' }).orderBy('id').select('content');
      assert.deepEqual(inbound.map((m: { content: string }) => m.content), ['I want an appointment', '1', '2', '1', yes.id], 'the engine saw the option values');
    });

    it('stores a redelivered wamid once and answers it once', async () => {
      const { svc, pnid } = await setup();
      const phone = uniquePhone();
      const wamid = newWamid();
      const first = await say(svc, pnid, phone, { text: 'Hola' }, wamid);
      assert.ok(first.length >= 1);
      const again = await say(svc, pnid, phone, { text: 'Hola' }, wamid);
      await sleep(150);
      await svc.dispatcher.drain();
      assert.equal(again.length, 0, 'no second reply');
      assert.equal((await inboundRows(svc, wamid)).length, 1);
    });

    it('answers 401 and stores nothing when the signature is wrong, missing, or over another body', async () => {
      const { t, svc, pnid } = await setup();
      const wamid = newWamid();
      const payload = inboundMessage(pnid, uniquePhone(), { text: 'Hola' }, wamid);
      assert.equal((await postNotification(svc.url, payload, { secret: 'another-app-secret' })).status, 401);
      assert.equal((await postNotification(svc.url, payload, { signature: null })).status, 401);
      assert.equal((await postNotification(svc.url, payload, { signature: 'sha256=00' })).status, 401);
      assert.equal((await postNotification(svc.url, payload, { signature: 'not-a-signature' })).status, 401);
      // A signature over the body as sent, on a body changed in flight.
      const raw = JSON.stringify(payload);
      const { createHmac } = await import('node:crypto');
      const sig = `sha256=${createHmac('sha256', FAKE_WA_APP_SECRET).update(raw).digest('hex')}`;
      const tampered = await fetch(`${svc.url}${WA_WEBHOOK}`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig }, body: raw.replace('Hola', 'Hola '),
      });
      assert.equal(tampered.status, 401);
      assert.equal((await inboundRows(svc, wamid)).length, 0);
      assert.equal((await knexOf(svc)('conversations').where({ organization_id: t.org.id })).length, 0, 'no conversation either');
      assert.equal((await postNotification(svc.url, payload)).status, 200, 'the same body rightly signed is taken');
      assert.equal((await inboundRows(svc, wamid)).length, 1);
    });

    it('hands an image to the engine with its media id and caption; the bot answers that it did not understand', async () => {
      const { svc, pnid } = await setup();
      const phone = uniquePhone();
      const wamid = newWamid();
      const replies = await say(svc, pnid, phone, { image: { id: '1479537139650973', mime_type: 'image/jpeg', caption: '' } }, wamid);
      const [stored] = await inboundRows(svc, wamid);
      assert.equal(stored.content, '');
      assert.deepEqual(stored.metadata.media, [{ url: 'whatsapp-media:1479537139650973', contentType: 'image/jpeg' }]);
      assert.ok(replies.length >= 1, 'a polite answer');
      const keys = await knexOf(svc)('messages').where({ conversation_id: stored.conversation_id, direction: 'outbound' }).orderBy('created_at').select('metadata');
      assert.ok(keys.some((m: { metadata: { reply_key?: string } }) => m.metadata.reply_key === 'not_understood'), JSON.stringify(keys));
    });

    it('STOP and BAJA opt the patient out with a confirmation; afterwards bulk sends do not reach them', async () => {
      const { t, svc, pnid } = await setup();
      const en = await buildPatient(t, { preferred_language: 'en' });
      const es = await buildPatient(t, { preferred_language: 'es' });
      const [stopReply] = await say(svc, pnid, en.phone!, { text: 'STOP' });
      assert.match(stopReply.text, /won't receive more messages/);
      const [bajaReply] = await say(svc, pnid, es.phone!, { text: 'Baja' });
      assert.match(bajaReply.text, /No recibirás más mensajes/);
      for (const p of [en, es]) assert.ok((await knexOf(svc)('patients').where({ id: p.id }).first()).opted_out_at, 'opted out');
      const bulk = await (await clientOn(svc, t)).post('/api/v1/communications/send-bulk', { patient_ids: [en.id, es.id], channel: 'whatsapp', message: 'News' });
      assert.equal(bulk.status, 202);
      await waitUntil(async () => (await knexOf(svc)('messages').where({ batch_id: bulk.body.data.id }).whereIn('status', ['queued', 'sending'])).length === 0);
      const rows = await knexOf(svc)('messages').where({ batch_id: bulk.body.data.id });
      assert.deepEqual(rows.map((r: { status: string }) => r.status), ['skipped', 'skipped']);
      assert.equal(wa.fake.to(en.phone!).length, 1, 'only the STOP confirmation');
    });
  });

  describe('status notifications', () => {
    it('move messages to delivered, read or failed, visible in GET /communications; late or unknown ones change nothing', async () => {
      const { t, svc, pnid } = await setup();
      const [a, b] = [await buildPatient(t), await buildPatient(t)];
      const client = await clientOn(svc, t);
      const ra = await client.post('/api/v1/communications/send', { patient_id: a.id, channel: 'whatsapp', message: 'Hola' });
      const rb = await client.post('/api/v1/communications/send', { patient_id: b.id, channel: 'whatsapp', message: 'Hola' });
      const [sa] = await wa.fake.waitFor(a.phone!);
      const [sb] = await wa.fake.waitFor(b.phone!);
      await settled(svc, a.phone!);
      await settled(svc, b.phone!);
      const statusOf = async (id: string) => (await client.get(`/api/v1/communications?patient_id=${id === ra.body.data.id ? a.id : b.id}`)).body.data.find((m: { id: string }) => m.id === id);
      assert.equal((await statusOf(ra.body.data.id)).status, 'sent');

      assert.equal((await postNotification(svc.url, statusNotification(pnid, sa.id, 'delivered', a.phone!), { secret: 'forged' })).status, 401);
      assert.equal((await statusOf(ra.body.data.id)).status, 'sent', 'a forged receipt changes nothing');
      assert.equal((await postNotification(svc.url, statusNotification(pnid, sa.id, 'delivered', a.phone!))).status, 200);
      assert.equal((await statusOf(ra.body.data.id)).status, 'delivered');
      assert.equal((await postNotification(svc.url, statusNotification(pnid, sa.id, 'read', a.phone!))).status, 200);
      assert.equal((await statusOf(ra.body.data.id)).status, 'read');
      // Receipts can arrive out of order: a late 'delivered' never moves it back.
      await postNotification(svc.url, statusNotification(pnid, sa.id, 'delivered', a.phone!));
      assert.equal((await statusOf(ra.body.data.id)).status, 'read');
      const readRow = await knexOf(svc)('messages').where({ id: ra.body.data.id }).first();
      assert.ok(readRow.read_at && readRow.delivered_at);

      assert.equal((await postNotification(svc.url, statusNotification(pnid, sb.id, 'failed', b.phone!, 131026))).status, 200);
      assert.equal((await statusOf(rb.body.data.id)).status, 'failed');
      const failedRow = await knexOf(svc)('messages').where({ id: rb.body.data.id }).first();
      assert.equal(failedRow.last_error, 'undelivered: 131026');
      assert.equal((await postNotification(svc.url, statusNotification(pnid, 'wamid.unknown', 'delivered', b.phone!))).status, 200);
    });
  });
});
