/**
 * Provider notifications with parts of the wrong shape: signed, so the
 * provider's, but still input. Each used to fail the whole request with a 500
 * (which WhatsApp and Telegram redeliver for days) or stop at a database
 * error; now the odd item is left out, the rest is handled and the request
 * answered 200.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Update } from 'grammy/types';
import type { RunningService } from '../../main.js';
import { Message } from '../../models/messages.js';
import { uniquePhone } from '../support/factories.js';
import { inboundRows, setupWhatsAppOrg, waitUntil, withFakeWhatsApp } from '../support/whatsappService.js';
import { inboundMessage, newWamid, notification, postNotification, statusNotification, waId } from '../support/fakeWhatsApp.js';
import { telegramHarness } from '../support/telegramHarness.js';
import { readNotification } from '../../channels/whatsapp/notification.js';
import { callbackUpdate, contactUpdate, newTelegramUser, postUpdate, textUpdate } from '../support/fakeTelegram.js';

/** The one message of an inbound notification, to bend out of shape. */
const messageOf = (n: Record<string, unknown>) =>
  ((n.entry as { changes: { value: { messages: Record<string, unknown>[] } }[] }[])[0]!.changes[0]!.value.messages[0]!);

describe('WhatsApp notifications with parts of the wrong shape', function () {
  this.timeout(30_000);
  const wa = withFakeWhatsApp();

  const answered = (svc: RunningService, conversationId: string) =>
    waitUntil(async () => (await svc.deps.db.knex('messages').where({ conversation_id: conversationId, direction: 'outbound' })).length > 0);

  it('answers 200 to entries and changes that are not lists or objects, and to a phone_number_id that is not one', async () => {
    const { svc, pnid } = await setupWhatsAppOrg(wa.fake);
    const bodies: unknown[] = [
      { object: 'whatsapp_business_account', entry: 5 },
      { object: 'whatsapp_business_account', entry: [null, 'x', { changes: { a: 1 } }] },
      { object: 'whatsapp_business_account', entry: [{ changes: [null, 5, { field: 'messages', value: 'x' }] }] },
      notification('1\u00002', { messages: [] }),
    ];
    for (const body of bodies) assert.equal((await postNotification(svc.url, body)).status, 200, JSON.stringify(body));
    // The service still takes a good notification.
    const wamid = newWamid();
    assert.equal((await postNotification(svc.url, inboundMessage(pnid, uniquePhone(), { text: 'Hola' }, wamid))).status, 200);
    assert.equal((await inboundRows(svc, wamid)).length, 1);
  });

  it('reads only the messages field: a change of another field is skipped, not counted as malformed', () => {
    const other = { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 5 } }] }] };
    assert.deepEqual(readNotification(other), { changes: [], dropped: 0 });
    const broken = { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messages: [] } }] }] };
    assert.deepEqual(readNotification(broken), { changes: [], dropped: 1 }, 'a messages change without its number is malformed');
  });

  it('stores and answers the good messages of a notification whose other items are malformed, and leaves those out', async () => {
    const { t, svc, pnid } = await setupWhatsAppOrg(wa.fake);
    const good = inboundMessage(pnid, uniquePhone(), { text: 'Hola' });
    const noSender = messageOf(inboundMessage(pnid, uniquePhone(), { text: 'Hola' }));
    noSender.from = 34600000000;
    const nulId = messageOf(inboundMessage(pnid, uniquePhone(), { text: 'Hola' }));
    nulId.id = '\u0000';
    const value = (good.entry as { changes: { value: Record<string, unknown> }[] }[])[0]!.changes[0]!.value;
    value.messages = [noSender, nulId, null, 'x', ...(value.messages as unknown[])];
    value.contacts = 'not a list';
    value.statuses = [{ id: 'a\u0000b', status: 'delivered' }, { id: 5 }];
    assert.equal((await postNotification(svc.url, good)).status, 200);
    const stored = await Message.query(svc.deps.db.knex).where({ organization_id: t.org.id, channel: 'whatsapp', direction: 'inbound' });
    assert.deepEqual(stored.map((m) => m.provider_message_id), [(value.messages as { id?: string }[]).at(-1)!.id], 'only the good message');
    assert.equal(stored[0]!.content, 'Hola');
    await answered(svc, stored[0]!.conversation_id!);
  });

  it('keeps a message whose text, type or name is not readable: it is stored and the bot answers it', async () => {
    const { svc, pnid } = await setupWhatsAppOrg(wa.fake);
    const cases: [string, (m: Record<string, unknown>, n: Record<string, unknown>) => void, string][] = [
      ['a text body that is a number', (m) => { m.text = { body: 5 }; }, ''],
      ['a lone surrogate in the text', (m) => { m.text = { body: 'Hola \ud800' }; }, 'Hola \ufffd'],
      ['a type that is a lone surrogate', (m) => { m.type = '\ud800'; delete m.text; }, ''],
      ['a profile name that is an object', (_m, n) => {
        ((n.entry as { changes: { value: { contacts: { profile: unknown }[] } }[] }[])[0]!.changes[0]!.value.contacts[0]!).profile = { name: { first: 'Ana' } };
      }, 'Hola'],
    ];
    for (const [what, bend, content] of cases) {
      const body = inboundMessage(pnid, uniquePhone(), { text: 'Hola' });
      const m = messageOf(body);
      bend(m, body);
      assert.equal((await postNotification(svc.url, body)).status, 200, what);
      const [stored] = await inboundRows(svc, m.id as string);
      assert.ok(stored, `${what}: stored`);
      assert.equal(stored.content, content, what);
      await answered(svc, stored.conversation_id!);
    }
    const [odd] = await Message.query(svc.deps.db.knex).where({ channel: 'whatsapp', direction: 'inbound' }).whereRaw(`metadata::text LIKE '%whatsapp-\ufffd%'`);
    assert.ok(odd, 'the unreadable type is kept in the media, with U+FFFD for the lone surrogate');
  });

  it('leaves out statuses without a usable id; the next status of the notification still moves its message', async () => {
    const { svc, pnid } = await setupWhatsAppOrg(wa.fake);
    const phone = uniquePhone();
    await postNotification(svc.url, inboundMessage(pnid, phone, { text: 'Hola' }));
    const [sent] = await wa.fake.waitFor(waId(phone));
    await waitUntil(async () => (await svc.deps.db.knex('messages').where({ provider_message_id: sent!.id }).first())?.status === 'sent');
    const failed = statusNotification(pnid, sent!.id, 'failed', phone);
    const status = (failed.entry as { changes: { value: { statuses: Record<string, unknown>[] } }[] }[])[0]!.changes[0]!.value.statuses;
    status[0]!.errors = [{ code: 'E131047' }];
    status.unshift({ id: 'wamid.\u0000', status: 'delivered' }, { status: 'read' }, { id: sent!.id, status: { a: 1 } });
    assert.equal((await postNotification(svc.url, failed)).status, 200);
    const row = await svc.deps.db.knex('messages').where({ provider_message_id: sent!.id }).first();
    assert.equal(row.status, 'failed');
    assert.match(row.last_error ?? '', /E131047/);
  });
});

describe('Telegram updates with parts of the wrong shape', function () {
  this.timeout(30_000);
  const harness = telegramHarness();

  const inbound = (svc: RunningService, providerMessageId: string) =>
    Message.query(svc.deps.db.knex).where({ channel: 'telegram', direction: 'inbound', provider_message_id: providerMessageId });
  const bent = (update: Update, bend: (u: Record<string, Record<string, unknown>>) => void): Update => {
    bend(update as unknown as Record<string, Record<string, unknown>>);
    return update;
  };

  it('answers a message whose sender name or contact number is not a string; the name is left out', async () => {
    const { svc } = await harness.startTelegram();
    const user = newTelegramUser();
    const update = bent(textUpdate(harness.fake, user, 'Hola'), (u) => { (u.message!.from as Record<string, unknown>).first_name = 5; });
    const [reply] = await harness.exchange(svc, user, update, 1);
    assert.ok(reply!.text.length > 0);
    const [row] = await inbound(svc, `${user.id}:${update.message!.message_id}`);
    assert.equal(row!.content, 'Hola');
    const contact = bent(contactUpdate(harness.fake, user, '+34611223344'), (u) => { (u.message!.contact as Record<string, unknown>).phone_number = 34611223344; });
    await harness.exchange(svc, user, contact, 1);
    const [shared] = await inbound(svc, `${user.id}:${contact.message!.message_id}`);
    assert.equal(shared!.content, '', 'not taken as a phone number: a message the bot did not understand');
  });

  it('answers 200 and stores nothing for a message or a tap it cannot read, and still answers the tap', async () => {
    const { svc, token, clinic } = await harness.startTelegram();
    const user = newTelegramUser();
    const notAMessage = { update_id: harness.fake.updateId(), message: 'x' } as unknown as Update;
    const noChat = bent(textUpdate(harness.fake, user, 'Hola'), (u) => { u.message!.chat = 5 as never; });
    const [welcome] = await harness.say(svc, user, '/start');
    const tap = bent(callbackUpdate(harness.fake, user, welcome!, '1'), (u) => { u.callback_query!.data = 1 as never; });
    for (const update of [notAMessage, noChat, tap]) assert.equal((await postUpdate(svc.url, update)).status, 200, JSON.stringify(update));
    assert.equal((await postUpdate(svc.url, { update_id: 'x' } as unknown as Update)).status, 400, 'not an update at all');
    await sleep(150);
    assert.equal((await inbound(svc, `cbq:${tap.callback_query!.id}`)).length, 0);
    const rows = await svc.deps.db.knex('messages').where({ organization_id: clinic.org.id, direction: 'inbound' });
    assert.equal(rows.length, 1, 'only /start');
    assert.ok(harness.fake.callsOf('answerCallbackQuery', token).some((c) => c.payload.callback_query_id === tap.callback_query!.id), 'the spinner stopped');
  });
});
