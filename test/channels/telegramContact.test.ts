import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.js';
import { TelegramAdapter } from '../../channels/telegram/adapter.js';
import type { OutboundMessage } from '../../channels/types.js';
import type { RunningService } from '../../main.js';
import { testConfig } from '../support/service.js';
import { buildAppointment, buildPatient, uniquePhone } from '../support/factories.js';
import { NOW } from '../bot/engineSupport.js';
import { FAKE_TELEGRAM_SECRET, callbackUpdate, contactUpdate, newBotToken, newTelegramUser, type FakeSentMessage, type TelegramUser } from '../support/fakeTelegram.js';
import { telegramHarness, TELEGRAM_PUBLIC_URL } from '../support/telegramHarness.js';
import { clientOn } from '../support/smsService.js';
import { closeIdleConversations } from '../../models/conversations.js';

/** The share-contact keyboard as the fake Bot API recorded it. */
const shareKeyboard = (label: string): FakeSentMessage['replyKeyboard'] => ({ buttons: [{ text: label, requestContact: true }], oneTime: true, resize: true });

describe('Telegram: the share-my-phone-number button', function () {
  this.timeout(30_000);
  const telegram = telegramHarness();
  const { startTelegram, exchange, say } = telegram;

  const tap = (svc: RunningService, user: TelegramUser, on: FakeSentMessage, label: string, n = 1) => {
    const button = on.buttons.find((b) => b.text === label);
    assert.ok(button, `a "${label}" button on "${on.text}"`);
    return exchange(svc, user, callbackUpdate(telegram.fake, user, on, button.data), n);
  };
  /** The sendMessage payload the fake Bot API received for a sent message. */
  const payloadOf = (token: string, m: FakeSentMessage) => {
    const calls = telegram.fake.callsOf('sendMessage', token).filter((c) => c.payload.chat_id === m.chatId && c.payload.text === m.text);
    return calls[calls.length - 1]!.payload;
  };

  /** /start, "1" (book) and a name: the replies to the name (nice to meet you, then the phone question). */
  async function upToThePhoneQuestion(svc: RunningService, user: TelegramUser, name = 'Marta Vidal', menuChoice = '1'): Promise<FakeSentMessage[]> {
    await say(svc, user, '/start');
    const [askName] = await say(svc, user, menuChoice);
    assert.equal(askName!.replyKeyboard, null);
    return say(svc, user, name, 2);
  }

  describe('the phone question', () => {
    const cases = [
      { lang: 'en', label: 'Share my phone number', question: /What mobile number/ },
      { lang: 'es', label: 'Compartir mi número', question: /número de móvil/ },
      { lang: 'ca', label: 'Compartir el meu número', question: /número de mòbil/ },
    ];
    for (const { lang, label, question } of cases) {
      it(`asks for the phone with a share-contact button, in the patient's language (${lang})`, async () => {
        const { svc, token } = await startTelegram();
        const user = newTelegramUser({ language_code: lang });
        const [thanks, askPhone] = await upToThePhoneQuestion(svc, user);
        assert.equal(thanks!.replyKeyboard, null, 'only the question carries the button');
        assert.match(askPhone!.text, question);
        assert.deepEqual(askPhone!.replyKeyboard, shareKeyboard(label));
        assert.deepEqual(askPhone!.buttons, []);
        assert.deepEqual(payloadOf(token, askPhone!).reply_markup, {
          keyboard: [[{ text: label, request_contact: true }]], one_time_keyboard: true, resize_keyboard: true,
        }, 'the Bot API received a KeyboardButton with request_contact');
      });
    }

    it('a staff reply removes the keyboard the bot left showing when staff took the conversation over', async () => {
      const { svc, clinic } = await startTelegram();
      const user = newTelegramUser();
      const [, askPhone] = await upToThePhoneQuestion(svc, user);
      assert.deepEqual(askPhone!.replyKeyboard, shareKeyboard('Share my phone number'));
      const conv = await svc.deps.db.knex('conversations').where({ organization_id: clinic.org.id, channel: 'telegram', channel_address: String(user.id) }).first();
      const staff = await clientOn(svc, clinic);
      assert.equal((await staff.post(`/api/v1/conversations/${conv.id}/handoff`, {})).status, 200);

      const before = telegram.fake.to(user.id).length;
      assert.equal((await staff.post(`/api/v1/conversations/${conv.id}/messages`, { content: 'Hi Marta, this is Laura from the clinic.' })).status, 201);
      const [first] = (await telegram.fake.waitFor(user.id, before + 1)).slice(before);
      assert.equal(first!.text, 'Hi Marta, this is Laura from the clinic.');
      assert.equal(first!.removesKeyboard, true, 'the first staff reply removes it');
      assert.equal((await staff.post(`/api/v1/conversations/${conv.id}/messages`, { content: 'How can I help?' })).status, 201);
      const [second] = (await telegram.fake.waitFor(user.id, before + 2)).slice(before + 1);
      assert.equal(second!.removesKeyboard, false, 'removed once');
    });

    describe('a conversation that closes while the bot waits for the number', () => {
      const DAY_MS = 24 * 60 * 60_000;
      /** The idle job, run two days after the fixed clock's now (the day's idle time is long past). */
      const closeIdle = (svc: RunningService, orgId: string) =>
        closeIdleConversations(svc.deps.db.knex, { now: new Date(NOW.getTime() + 2 * DAY_MS), idleMinutes: 24 * 60, limit: 100, organizationIds: [orgId] });
      /** The patient comes back: /start, then "1" (book); what the bot sent them since. */
      const comeBack = async (svc: RunningService, user: TelegramUser) => {
        const since = telegram.fake.to(user.id).length;
        await say(svc, user, '/start');
        await say(svc, user, '1');
        return telegram.fake.to(user.id).slice(since);
      };
      const conversationsOf = (svc: RunningService, orgId: string, user: TelegramUser) =>
        svc.deps.db.knex('conversations').where({ organization_id: orgId, channel: 'telegram', channel_address: String(user.id) });

      it('closed by the idle job: the next conversation\'s first reply without buttons removes the keyboard, once', async () => {
        const { svc, clinic } = await startTelegram();
        const user = newTelegramUser();
        const [, askPhone] = await upToThePhoneQuestion(svc, user);
        assert.deepEqual(askPhone!.replyKeyboard, shareKeyboard('Share my phone number'));
        assert.equal(await closeIdle(svc, clinic.org.id), 1);

        const after = await comeBack(svc, user);
        const firstPlain = after.find((m) => m.buttons.length === 0);
        assert.ok(firstPlain, 'a reply without inline buttons');
        assert.equal(firstPlain.removesKeyboard, true, `"${firstPlain.text}" removes the keyboard`);
        assert.equal(after.filter((m) => m.removesKeyboard).length, 1, 'removed once');
        const conversations = await conversationsOf(svc, clinic.org.id, user);
        assert.deepEqual(conversations.map((c) => c.status).sort(), ['bot', 'closed']);
        const open = conversations.find((c) => c.status === 'bot');
        assert.equal(open.dialogue_state?.data?.openAsk, undefined, 'the new conversation no longer holds the ask');
      });

      it('found idle when the patient writes again: the same', async () => {
        const { svc, clinic } = await startTelegram();
        const user = newTelegramUser();
        await upToThePhoneQuestion(svc, user);
        const [conv] = await conversationsOf(svc, clinic.org.id, user);
        await svc.deps.db.knex('conversations').where({ id: conv.id }).update({ last_message_at: new Date(NOW.getTime() - 2 * DAY_MS) });

        const after = await comeBack(svc, user);
        assert.equal(after.find((m) => m.buttons.length === 0)?.removesKeyboard, true);
        assert.equal(after.filter((m) => m.removesKeyboard).length, 1);
        assert.deepEqual((await conversationsOf(svc, clinic.org.id, user)).map((c) => c.status).sort(), ['bot', 'closed']);
      });

      it('nothing to remove when the last conversation closed without asking for the number', async () => {
        const { svc, clinic } = await startTelegram();
        const user = newTelegramUser();
        await say(svc, user, '/start');
        const [askName] = await say(svc, user, '1');
        assert.equal(askName!.replyKeyboard, null);
        assert.equal(await closeIdle(svc, clinic.org.id), 1);
        const after = await comeBack(svc, user);
        assert.ok(after.length >= 2);
        assert.equal(after.filter((m) => m.removesKeyboard).length, 0);
      });
    });

    it('sharing the contact answers it, and the next reply removes the keyboard once', async () => {
      const { svc, clinic } = await startTelegram();
      const phone = uniquePhone();
      const patient = await buildPatient(clinic, { name: 'Jordi Puig', phone, preferred_language: 'en' });
      await buildAppointment(clinic, { patientId: patient.id, doctorId: clinic.cardiology.id, startTime: new Date('2030-03-07T09:00:00Z'), now: NOW });
      const user = newTelegramUser();
      const [, askPhone] = await upToThePhoneQuestion(svc, user, 'Jordi Puig', '2');
      assert.deepEqual(askPhone!.replyKeyboard, shareKeyboard('Share my phone number'));
      // Telegram sends the shared number without its +.
      const [list, menu] = await exchange(svc, user, contactUpdate(telegram.fake, user, phone.slice(1)), 2);
      assert.match(list!.text, /Dr\. Elena García/, 'the shared number found the patient and their appointment');
      assert.equal(list!.removesKeyboard, true);
      assert.equal(list!.replyKeyboard, null);
      assert.equal(menu!.removesKeyboard, false, 'removed once');
      assert.ok(menu!.buttons.length > 0);
      const [next] = await tap(svc, user, menu!, 'Book an appointment');
      assert.equal(next!.removesKeyboard, false);
      const conv = await svc.deps.db.knex('conversations').where({ organization_id: clinic.org.id, channel: 'telegram', channel_address: String(user.id) }).first();
      assert.equal(conv.patient_id, patient.id);
    });

    it('a typed number answers it too; a wrong one asks again with the button; the keyboard goes with the first reply without inline buttons', async () => {
      const { svc, clinic } = await startTelegram();
      const user = newTelegramUser({ language_code: 'es' });
      await upToThePhoneQuestion(svc, user);
      const [again] = await say(svc, user, '12');
      assert.match(again!.text, /número de teléfono/);
      assert.deepEqual(again!.replyKeyboard, shareKeyboard('Compartir mi número'), 'asked again, with the button again');
      const phone = uniquePhone();
      const [specialty] = await say(svc, user, phone);
      assert.deepEqual(specialty!.buttons.map((b) => b.text), ['Cardiology', 'Dermatology']);
      assert.equal(specialty!.removesKeyboard, false, 'a message with inline buttons cannot also remove the keyboard');
      const [day] = await tap(svc, user, specialty!, 'Cardiology');
      assert.equal(day!.removesKeyboard, false);
      const [slots] = await tap(svc, user, day!, 'Mañana');
      const [confirm] = await tap(svc, user, slots!, slots!.buttons[0]!.text);
      const [booked] = await tap(svc, user, confirm!, confirm!.buttons[0]!.text);
      assert.deepEqual(booked!.buttons, []);
      assert.equal(booked!.removesKeyboard, true, 'the first reply without buttons removes it');
      const patient = await svc.deps.db.knex('patients').where({ organization_id: clinic.org.id, phone }).first();
      assert.equal(patient.preferred_language, 'es');
      const removals = telegram.fake.to(user.id).filter((m) => m.removesKeyboard);
      assert.equal(removals.length, 1);
    });
  });

  describe('the adapter', () => {
    const outbound = (extra: Partial<OutboundMessage>): OutboundMessage => ({
      id: 'msg_test', organizationId: 'org_test', channel: 'telegram', to: '4343', text: 'Hola', options: null, conversationId: null,
      sender: 'assistant', createdAt: new Date(), ...extra,
    });

    it('sends the share-contact keyboard, its removal, or inline buttons (which win: one reply_markup a message)', async () => {
      const token = newBotToken();
      const adapter = new TelegramAdapter({
        config: testConfig({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: telegram.fake.url, TELEGRAM_WEBHOOK_SECRET: FAKE_TELEGRAM_SECRET, PUBLIC_URL: TELEGRAM_PUBLIC_URL }),
        logger: createLogger('silent'),
      });
      await adapter.start();
      await adapter.send(outbound({ text: 'Your number?', asksPhone: { label: 'Share my phone number' } }));
      await adapter.send(outbound({ text: 'Thanks', closesPhoneAsk: true }));
      await adapter.send(outbound({ text: 'Pick', options: [{ value: '1', label: 'One' }], closesPhoneAsk: true }));
      await adapter.send(outbound({ text: 'Plain' }));
      const markups = telegram.fake.callsOf('sendMessage', token).map((c) => c.payload.reply_markup ?? null);
      assert.deepEqual(markups, [
        { keyboard: [[{ text: 'Share my phone number', request_contact: true }]], one_time_keyboard: true, resize_keyboard: true },
        { remove_keyboard: true },
        { inline_keyboard: [[{ text: 'One', callback_data: '1' }]] },
        null,
      ]);
      await adapter.stop();
    });
  });
});
