import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Update } from 'grammy/types';
import type { RunningService } from '../../main.js';
import { createLogger } from '../../lib/logger.js';
import { TelegramAdapter, TELEGRAM_WEBHOOK_PATH, inlineKeyboard } from '../../channels/telegram/adapter.js';
import { ProviderRefusedError, ProviderUnreachableError, type OutboundMessage } from '../../channels/types.js';
import { findOrCreateOpenConversation, closeConversation } from '../../models/conversations.js';
import { testConfig, testService } from '../support/service.js';
import { buildPatient, uniquePhone } from '../support/factories.js';
import { NOW } from '../bot/engineSupport.js';
import {
  FAKE_TELEGRAM_SECRET, callbackUpdate, contactUpdate, newBotToken, newTelegramUser, postUpdate, stickerUpdate, textUpdate,
  type FakeSentMessage, type TelegramUser,
} from '../support/fakeTelegram.js';
import { telegramHarness, TELEGRAM_PUBLIC_URL } from '../support/telegramHarness.js';
import { Message } from '../../models/messages.js';


describe('Telegram channel (grammY)', function () {
  this.timeout(30_000);
  const harness = telegramHarness();
  const { startTelegram } = harness;
  const PUBLIC_URL = TELEGRAM_PUBLIC_URL;

  const knexOf = (svc: RunningService) => svc.deps.db.knex;
  const outboundRows = (svc: RunningService, chatId: number) =>
    knexOf(svc)('messages').where({ channel: 'telegram', direction: 'outbound', to_address: String(chatId) }).orderBy('id');
  const inboundRows = (svc: RunningService, providerMessageId: string) =>
    Message.query(knexOf(svc)).where({ channel: 'telegram', direction: 'inbound', provider_message_id: providerMessageId });

  async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(25);
    }
  }

  /** Every outbound row of the chat settled: nothing queued and due, nothing being sent. */
  async function settle(svc: RunningService, chatId: number, clock: { now(): Date } = svc.deps.clock): Promise<void> {
    await waitUntil(async () => (await outboundRows(svc, chatId)).every((r: { status: string; next_attempt_at: Date | null }) =>
      r.status !== 'sending' && !(r.status === 'queued' && (!r.next_attempt_at || new Date(r.next_attempt_at) <= clock.now()))), 'outbound rows to settle');
  }

  /** Posts an update to the webhook (200 expected) and returns the replies it brought, once `n` arrived. */
  const exchange = (svc: RunningService, user: TelegramUser, update: Update, n: number): Promise<FakeSentMessage[]> => harness.exchange(svc, user, update, n);

  const replyKeys = async (svc: RunningService, chatId: number) => (await outboundRows(svc, chatId)).map((r: { metadata: { reply_key?: string } }) => r.metadata.reply_key);

  describe('the adapter', () => {
    const outbound = (to: string, text = 'Hola', options: OutboundMessage['options'] = null): OutboundMessage => ({
      id: 'msg_test', organizationId: 'org_test', channel: 'telegram', to, text, options, conversationId: null, sender: 'staff', createdAt: new Date(),
    });
    const adapterFor = (token: string) => new TelegramAdapter({
      config: testConfig({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: harness.fake.url, TELEGRAM_WEBHOOK_SECRET: FAKE_TELEGRAM_SECRET, PUBLIC_URL }),
      logger: createLogger('silent'),
    });

    it('sends with sendMessage: options as inline buttons whose callback_data is the value, the id as <chat>:<message>', async () => {
      const token = newBotToken();
      const adapter = adapterFor(token);
      await adapter.start();
      const res = await adapter.send(outbound('4242', 'Pick one', [{ value: '1', label: 'Cardiology' }, { value: '2', label: 'Dermatology' }]));
      const [sent] = harness.fake.to(4242).filter((m) => m.token === token);
      assert.equal(sent!.text, 'Pick one');
      assert.deepEqual(sent!.buttons, [{ text: 'Cardiology', data: '1' }, { text: 'Dermatology', data: '2' }]);
      assert.equal(res.providerMessageId, `4242:${sent!.messageId}`);
      const call = harness.fake.callsOf('sendMessage', token)[0]!;
      assert.equal(call.payload.chat_id, '4242');
      assert.equal(call.payload.parse_mode, undefined, 'plain text: a patient name is never parsed as markup');
      await adapter.stop();
    });

    it('keeps callback_data within 64 bytes: a longer value is sent as its number', () => {
      const long = 'x'.repeat(65);
      const data = (options: { value: string; label: string }[]) => inlineKeyboard(options).inline_keyboard.map((r) => (r[0] as { callback_data?: string }).callback_data);
      assert.deepEqual(data([{ value: '1', label: 'A' }, { value: long, label: 'B' }, { value: 'ñ'.repeat(32), label: 'C' }]), ['1', '2', 'ñ'.repeat(32)]);
      assert.deepEqual(data([{ value: 'ñ'.repeat(33), label: 'D' }]), ['1'], '66 bytes in 33 characters');
    });

    it('maps Bot API errors: 403 blocked and 400 chat not found are final, 429 is retryable after retry_after, 500 and no answer are unreachable', async () => {
      const adapter = adapterFor(newBotToken());
      await adapter.start();
      harness.fake.failNext({ kind: 'refuse', errorCode: 403, description: 'Forbidden: bot was blocked by the user' });
      await assert.rejects(adapter.send(outbound('1')), (e: unknown) => e instanceof ProviderRefusedError && e.code === 'telegram_403' && !e.retryable && /blocked/.test(e.message));
      harness.fake.failNext({ kind: 'refuse', errorCode: 400, description: 'Bad Request: chat not found' });
      await assert.rejects(adapter.send(outbound('1')), (e: unknown) => e instanceof ProviderRefusedError && e.code === 'telegram_400' && !e.retryable);
      harness.fake.failNext({ kind: 'refuse', errorCode: 429, description: 'Too Many Requests: retry after 7', retryAfter: 7 });
      await assert.rejects(adapter.send(outbound('1')), (e: unknown) => e instanceof ProviderRefusedError && e.retryable && e.retryAfterMs === 7000);
      assert.equal(adapter.health().status, 'up', 'a refusal says nothing about the channel');
      harness.fake.failNext({ kind: 'refuse', errorCode: 500, description: 'Internal Server Error' });
      await assert.rejects(adapter.send(outbound('1')), (e: unknown) => e instanceof ProviderUnreachableError);
      assert.equal(adapter.health().status, 'down');
      harness.fake.failNext({ kind: 'drop' });
      await assert.rejects(adapter.send(outbound('1')), (e: unknown) => e instanceof ProviderUnreachableError && /unreachable/.test(e.message));
      await adapter.send(outbound('1', 'después'));
      assert.equal(adapter.health().status, 'up');
      await adapter.stop();
    });

    it('registers its webhook with the secret token on start when TELEGRAM_SET_WEBHOOK is on, and not otherwise', async () => {
      const { token } = await startTelegram({}, { TELEGRAM_SET_WEBHOOK: 'true' });
      assert.deepEqual(harness.fake.webhookOf(token), { url: `${PUBLIC_URL}${TELEGRAM_WEBHOOK_PATH}`, secret: FAKE_TELEGRAM_SECRET, allowed: ['message', 'callback_query'] });
      const other = await startTelegram();
      assert.equal(harness.fake.webhookOf(other.token), undefined);
      assert.equal(harness.fake.callsOf('setWebhook', other.token).length, 0);
      assert.equal(harness.fake.callsOf('getUpdates', other.token).length, 0, 'webhook mode never polls');
    });
  });

  describe('webhook', () => {
    it('a new chat is asked for name and phone, then books by tapping inline buttons and typing', async () => {
      const { svc, clinic, token } = await startTelegram();
      const user = newTelegramUser({ first_name: 'Marta', last_name: 'Vidal' });
      const [welcome] = await exchange(svc, user, textUpdate(harness.fake, user, '/start'), 1);
      assert.match(welcome!.text, /^Hello! I can help you with your appointments/);
      assert.deepEqual(welcome!.buttons.map((b) => b.text), ['Book an appointment', 'My appointments', 'Change an appointment', 'Cancel an appointment', 'Talk to a person']);
      assert.deepEqual(welcome!.buttons.map((b) => b.data), ['1', '2', '3', '4', '5']);
      assert.equal(welcome!.token, token);

      const tap = async (on: FakeSentMessage, label: string, n = 1) => {
        const button = on.buttons.find((b) => b.text === label);
        assert.ok(button, `a "${label}" button on "${on.text}"`);
        const update = callbackUpdate(harness.fake, user, on, button.data);
        const replies = await exchange(svc, user, update, n);
        assert.ok(harness.fake.callsOf('answerCallbackQuery', token).some((c) => c.payload.callback_query_id === update.callback_query!.id), 'the tap was answered');
        return replies;
      };
      const [askName] = await tap(welcome!, 'Book an appointment');
      assert.match(askName!.text, /what is your full name\?/);
      assert.deepEqual(askName!.buttons, []);
      const [, askPhone] = await exchange(svc, user, textUpdate(harness.fake, user, 'Marta Vidal'), 2);
      assert.match(askPhone!.text, /What mobile number/);
      // Telegram's "share my phone number": the contact's number, as Telegram sends it (no +).
      const phone = uniquePhone();
      const [specialty] = await exchange(svc, user, contactUpdate(harness.fake, user, phone.slice(1)), 1);
      assert.deepEqual(specialty!.buttons.map((b) => b.text), ['Cardiology', 'Dermatology']);
      const [day] = await tap(specialty!, 'Cardiology');
      const [slots] = await tap(day!, 'Tomorrow');
      const [confirm] = await tap(slots!, 'Wednesday 6 March, 08:00');
      assert.match(confirm!.text, /Wednesday 6 March, 08:00 with Dr\. Elena García/);
      const [booked] = await tap(confirm!, confirm!.buttons[0]!.text);
      assert.match(booked!.text, /Room 1|booked/i);

      const knex = knexOf(svc);
      const patient = await knex('patients').where({ organization_id: clinic.org.id, phone }).first();
      assert.ok(patient, 'the chat became a patient with the shared number');
      assert.equal(patient.name, 'Marta Vidal');
      const appointments = await knex('appointments').where({ organization_id: clinic.org.id, patient_id: patient.id });
      assert.equal(appointments.length, 1);
      assert.equal(appointments[0].doctor_id, clinic.cardiology.id);
      assert.equal(appointments[0].source, 'telegram');
      const conv = await knex('conversations').where({ organization_id: clinic.org.id, channel: 'telegram', channel_address: String(user.id) }).first();
      assert.equal(conv.patient_id, patient.id);
      // Every reply went out once, recorded with Telegram's id.
      await settle(svc, user.id);
      const rows = await outboundRows(svc, user.id);
      assert.equal(rows.length, harness.fake.to(user.id).length);
      for (const r of rows) {
        assert.equal(r.status, 'sent');
        assert.match(r.provider_message_id, new RegExp(`^${user.id}:\\d+$`));
      }
      const taps = await Message.query(knex).where({ conversation_id: conv.id, direction: 'inbound' }).orderBy('id');
      assert.deepEqual(taps.map((m: { content: string }) => m.content).slice(0, 2), ['/start', '1'], 'a tap reaches the engine as the option value');
    });

    it('a chat identified once is not asked again in a new conversation', async () => {
      const { svc, clinic } = await startTelegram();
      const user = newTelegramUser();
      const p = await buildPatient(clinic, { name: 'Jordi Puig', preferred_language: 'en' });
      const knex = knexOf(svc);
      const old = await findOrCreateOpenConversation(knex, { organizationId: clinic.org.id }, { channel: 'telegram', address: String(user.id), patientId: p.id, idleMinutes: 60, now: NOW });
      await closeConversation(knex, { organizationId: clinic.org.id }, old.id, { now: NOW, reason: 'idle' });
      await exchange(svc, user, textUpdate(harness.fake, user, 'I want to book an appointment'), 1);
      await settle(svc, user.id);
      assert.deepEqual(await replyKeys(svc, user.id), ['ask_specialty'], 'straight to booking: the chat names its patient');
      const conv = await knex('conversations').where({ organization_id: clinic.org.id, channel: 'telegram', channel_address: String(user.id) }).whereNot({ id: old.id }).first();
      assert.equal(conv.patient_id, p.id);
    });

    it('stores a redelivered update once and answers it once (messages and taps)', async () => {
      const { svc, token } = await startTelegram();
      const user = newTelegramUser();
      const start = textUpdate(harness.fake, user, '/start');
      const [welcome] = await exchange(svc, user, start, 1);
      assert.equal((await postUpdate(svc.url, start)).status, 200);
      const tap = callbackUpdate(harness.fake, user, welcome!, '1');
      await exchange(svc, user, tap, 1);
      assert.equal((await postUpdate(svc.url, tap)).status, 200);
      await settle(svc, user.id);
      await sleep(150);
      assert.equal((await inboundRows(svc, `${user.id}:${start.message!.message_id}`)).length, 1);
      assert.equal((await inboundRows(svc, `cbq:${tap.callback_query!.id}`)).length, 1);
      assert.equal(harness.fake.to(user.id).length, 2, 'no second reply to either');
      assert.equal(harness.fake.callsOf('answerCallbackQuery', token).filter((c) => c.payload.callback_query_id === tap.callback_query!.id).length, 2, 'each delivery of a tap is answered (the spinner)');
    });

    it('answers 401 and stores nothing when the secret token is wrong or missing', async () => {
      const { svc, clinic } = await startTelegram();
      const user = newTelegramUser();
      const update = textUpdate(harness.fake, user, 'Hola');
      assert.equal((await postUpdate(svc.url, update, 'not-the-secret')).status, 401);
      assert.equal((await postUpdate(svc.url, update, `${FAKE_TELEGRAM_SECRET}x`)).status, 401);
      assert.equal((await postUpdate(svc.url, update, null)).status, 401);
      await sleep(100);
      assert.equal((await inboundRows(svc, `${user.id}:${update.message!.message_id}`)).length, 0);
      assert.equal((await knexOf(svc)('conversations').where({ organization_id: clinic.org.id })).length, 0, 'no conversation either');
      assert.equal(harness.fake.to(user.id).length, 0);
    });

    it('answers a message without text (a sticker) as one it did not understand, and ignores groups', async () => {
      const { svc, clinic } = await startTelegram();
      const user = newTelegramUser();
      const sticker = stickerUpdate(harness.fake, user);
      await exchange(svc, user, sticker, 1);
      const [row] = await inboundRows(svc, `${user.id}:${sticker.message!.message_id}`);
      assert.equal(row.content, '');
      assert.deepEqual(row.metadata.media, [{ url: `telegram-file:${sticker.message!.sticker!.file_id}`, contentType: 'image/webp' }]);
      await settle(svc, user.id);
      assert.deepEqual((await replyKeys(svc, user.id))[0], 'not_understood');
      const group = textUpdate(harness.fake, user, 'Hola a todos');
      (group.message as unknown as { chat: unknown }).chat = { id: -100123, type: 'supergroup', title: 'Clinic fans' };
      assert.equal((await postUpdate(svc.url, group)).status, 200);
      assert.equal((await knexOf(svc)('messages').where({ organization_id: clinic.org.id, from_address: '-100123' })).length, 0);
    });

    it('a blocked bot (403) fails the reply without retrying; a 429 waits retry_after and a 500 is retried', async () => {
      const { svc } = await startTelegram();
      // The dispatcher keeps real time: "later" is a next_attempt_at moved to now.
      const due = async (chatId: number) => {
        await knexOf(svc)('messages').where({ channel: 'telegram', direction: 'outbound', to_address: String(chatId) }).update({ next_attempt_at: new Date() });
        svc.dispatcher.kick();
      };
      const blocked = newTelegramUser();
      harness.fake.failChat(blocked.id, { kind: 'refuse', errorCode: 403, description: 'Forbidden: bot was blocked by the user' });
      assert.equal((await postUpdate(svc.url, textUpdate(harness.fake, blocked, '/start'))).status, 200);
      await waitUntil(async () => (await outboundRows(svc, blocked.id)).some((r: { status: string }) => r.status === 'failed'), 'the reply to fail');
      const [failed] = await outboundRows(svc, blocked.id);
      assert.equal(failed.attempts, 1);
      assert.match(failed.last_error, /telegram_403.*blocked/);
      assert.equal(harness.fake.callsOf('sendMessage').filter((c) => c.payload.chat_id === String(blocked.id)).length, 1, 'one attempt only');

      const limited = newTelegramUser();
      harness.fake.failNext({ kind: 'refuse', errorCode: 429, description: 'Too Many Requests: retry after 120', retryAfter: 120 });
      assert.equal((await postUpdate(svc.url, textUpdate(harness.fake, limited, '/start'))).status, 200);
      await waitUntil(async () => (await outboundRows(svc, limited.id)).some((r: { last_error: string | null }) => r.last_error !== null), 'the 429 to be recorded');
      const [waiting] = await outboundRows(svc, limited.id);
      assert.equal(waiting.status, 'queued');
      assert.match(waiting.last_error, /telegram_429/);
      assert.ok(new Date(waiting.next_attempt_at).getTime() >= Date.now() + 110_000, 'not before retry_after (longer than the first backoff)');
      await due(limited.id);
      await harness.fake.waitFor(limited.id, 1);

      const flaky = newTelegramUser();
      harness.fake.failNext({ kind: 'refuse', errorCode: 500, description: 'Internal Server Error' });
      assert.equal((await postUpdate(svc.url, textUpdate(harness.fake, flaky, '/start'))).status, 200);
      await waitUntil(async () => (await outboundRows(svc, flaky.id)).some((r: { last_error: string | null }) => r.last_error !== null), 'the 500 to be recorded');
      const [retry] = await outboundRows(svc, flaky.id);
      assert.equal(retry.status, 'queued');
      assert.match(retry.last_error, /^unreachable/);
      assert.ok(new Date(retry.next_attempt_at).getTime() > Date.now(), 'after a backoff');
      await due(flaky.id);
      const [delivered] = await harness.fake.waitFor(flaky.id, 1);
      assert.match(delivered!.text, /^Hello!/);
      await waitUntil(async () => (await outboundRows(svc, flaky.id))[0].status === 'sent', 'the retry to be recorded');
      assert.equal((await outboundRows(svc, flaky.id))[0].attempts, 2);
    });

    it('STOP and BAJA opt an identified chat\'s patient out with a confirmation; afterwards the bot is quiet; /start opts back in', async () => {
      const { svc, clinic } = await startTelegram();
      const knex = knexOf(svc);
      const optedOut = async (id: string) => Boolean((await knex('patients').where({ id }).first()).opted_out_at);
      const link = async (user: TelegramUser, patientId: string) => {
        await findOrCreateOpenConversation(knex, { organizationId: clinic.org.id }, { channel: 'telegram', address: String(user.id), patientId, idleMinutes: 60, now: NOW });
      };
      const en = newTelegramUser();
      const p = await buildPatient(clinic, { preferred_language: 'en' });
      await link(en, p.id);
      const [confirmation] = await exchange(svc, en, textUpdate(harness.fake, en, 'STOP'), 1);
      assert.match(confirmation!.text, /won't receive more messages/);
      assert.equal(await optedOut(p.id), true);
      assert.equal((await postUpdate(svc.url, textUpdate(harness.fake, en, 'I want an appointment'))).status, 200);
      await settle(svc, en.id);
      assert.equal(harness.fake.to(en.id).length, 1, 'only the STOP confirmation went out');
      const quiet = (await outboundRows(svc, en.id)).slice(1);
      assert.ok(quiet.length > 0 && quiet.every((m: { status: string }) => m.status === 'skipped'), 'the bot answered, and its replies were skipped');
      await exchange(svc, en, textUpdate(harness.fake, en, '/start'), 1);
      assert.equal(await optedOut(p.id), false, '/start (Telegram\'s START button) opts back in, as START does on SMS');

      const es = newTelegramUser();
      const q = await buildPatient(clinic, { preferred_language: 'es' });
      await link(es, q.id);
      const [baja] = await exchange(svc, es, textUpdate(harness.fake, es, 'Baja'), 1);
      assert.match(baja!.text, /No recibirás más mensajes/);
      assert.equal(await optedOut(q.id), true);
    });

    it('is off without a token: GET /channels and /system/status say so, and the webhook stores nothing', async () => {
      const shared = await testService();
      const res = await fetch(`${shared.url}/api/v1/channels`);
      const body = await res.json() as { data: { name: string; enabled: boolean; status: string; detail?: string }[] };
      const telegram = body.data.find((c) => c.name === 'telegram');
      assert.deepEqual({ enabled: telegram?.enabled, status: telegram?.status }, { enabled: false, status: 'off' });
      assert.match(telegram!.detail!, /TELEGRAM_BOT_TOKEN/);
      const user = newTelegramUser();
      const update = textUpdate(harness.fake, user, 'Hola');
      assert.equal((await postUpdate(shared.url, update)).status, 503);
      assert.equal((await inboundRows(shared, `${user.id}:${update.message!.message_id}`)).length, 0);

      const { svc } = await startTelegram();
      const on = (await (await fetch(`${svc.url}/api/v1/channels`)).json() as typeof body).data.find((c) => c.name === 'telegram');
      assert.deepEqual({ enabled: on?.enabled, status: on?.status, detail: on?.detail }, { enabled: true, status: 'up', detail: 'webhook' });
    });
  });

  describe('long polling', () => {
    it('takes updates from getUpdates (messages and taps), replies, and stops cleanly with the service', async () => {
      const { svc, token, clinic } = await startTelegram({}, { TELEGRAM_MODE: 'polling' });
      await harness.fake.waitUntil(() => harness.fake.pendingPolls > 0, 10_000, 'a pending getUpdates');
      assert.equal(harness.fake.callsOf('deleteWebhook', token).length, 1, 'grammY removes any webhook before polling');
      const channels = (await (await fetch(`${svc.url}/api/v1/channels`)).json() as { data: { name: string; status: string; detail?: string }[] }).data;
      assert.deepEqual(channels.find((c) => c.name === 'telegram'), { name: 'telegram', enabled: true, status: 'up', detail: 'long polling' });
      assert.equal((await postUpdate(svc.url, textUpdate(harness.fake, newTelegramUser(), 'Hola'))).status, 503, 'the webhook is closed while polling');

      const user = newTelegramUser();
      const start = textUpdate(harness.fake, user, '/start');
      harness.fake.enqueue(token, start);
      const [welcome] = await harness.fake.waitFor(user.id, 1);
      assert.equal(welcome!.buttons.length, 5);
      const tap = callbackUpdate(harness.fake, user, welcome!, '1');
      harness.fake.enqueue(token, tap);
      const [, askName] = await harness.fake.waitFor(user.id, 2);
      assert.match(askName!.text, /what is your full name\?/);
      assert.ok(harness.fake.callsOf('answerCallbackQuery', token).some((c) => c.payload.callback_query_id === tap.callback_query!.id));
      const stored = await Message.query(knexOf(svc)).where({ organization_id: clinic.org.id, direction: 'inbound' }).orderBy('id');
      assert.deepEqual(stored.map((m: { content: string }) => m.content), ['/start', '1']);

      // Redelivered by getUpdates (an offset not confirmed before a restart): stored and answered once.
      const again = { ...start, update_id: harness.fake.updateId() };
      harness.fake.enqueue(token, again);
      await harness.fake.waitUntil(() => harness.fake.callsOf('getUpdates', token).some((c) => Number(c.payload.offset) === again.update_id + 1), 10_000, 'the redelivery to be fetched');
      await settle(svc, user.id);
      assert.equal(harness.fake.to(user.id).length, 2);

      const began = Date.now();
      await svc.stop();
      assert.ok(Date.now() - began < 5_000, `stopped in ${Date.now() - began} ms`);
      assert.equal(harness.fake.pendingPolls, 0, 'the pending getUpdates was aborted');
      const polls = harness.fake.callsOf('getUpdates', token);
      const last = polls[polls.length - 1]!;
      assert.equal(Number(last.payload.offset), again.update_id + 1, 'the last update was confirmed');
      await sleep(300);
      assert.equal(harness.fake.callsOf('getUpdates', token).length, polls.length, 'no polling after stop');
    });
  });
});
