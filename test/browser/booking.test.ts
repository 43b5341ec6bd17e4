/**
 * Acceptance test of the web chat, end to end in real headless Chromium against
 * the real service (engine, dispatcher, API): a visitor books by typing in
 * Spanish, another by tapping option buttons in English, and a third asks for a
 * person, gets a ticket and sees the staff reply arrive in the open window.
 */
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import type { RunningService } from '../../main.js';
import { testService } from '../support/service.js';
import { buildDoctor, createTestOrg, uniquePhone, type DoctorRow, type TestOrg } from '../support/factories.js';
import { clickOption, launchBrowser, newPage, offeredOptions, openWidget, sendText, waitForBotText, type WidgetHandle } from '../support/browser.js';

const TZ = 'Europe/Madrid';
/** Replies pass through the engine, the outbox and the dispatcher: allow a slow CI machine. */
const REPLY_TIMEOUT = 15_000;

interface Clinic extends TestOrg {
  cardiology: DoctorRow;
  general: DoctorRow;
}

/** One bubble of the widget's log as the visitor sees it (screen-reader prefixes left out). */
interface Bubble { who: 'me' | 'bot' | 'staff'; text: string }

/** What a conversation message looks like in GET /conversations/:id. */
interface ApiMessage { sender: string; direction: string; content: string; options: { value: string; label: string }[] | null }

/** "+34612345678" as a visitor types it: "+34 612 345 678". */
const typedPhone = (e164: string) => `${e164.slice(0, 3)} ${e164.slice(3, 6)} ${e164.slice(6, 9)} ${e164.slice(9)}`;

describe('web chat end to end in headless Chromium: booking and handoff', function () {
  this.timeout(120_000);
  let svc: RunningService;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    svc = await testService();
    // Fails the run (never skips it) when Chromium cannot start.
    browser = await launchBrowser();
  });
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
  });
  after(async () => {
    await browser?.close();
  });

  async function buildClinic(): Promise<Clinic> {
    const t = await createTestOrg({ timeZone: TZ });
    const cardiology = await buildDoctor(t, { name: 'Dr. Elena García', specialization: 'Cardiology', location: 'Room 3' });
    const general = await buildDoctor(t, { name: 'Dr. Tomás Ruiz', specialization: 'General Practice', location: 'Room 1' });
    return { ...t, cardiology, general };
  }

  /** A fresh browser context (a new visitor: no session, no transcript) on the demo page of the clinic. */
  async function visit(t: TestOrg): Promise<{ w: WidgetHandle; page: Page; foreignRequests: string[]; pageErrors: string[]; frames: string[] }> {
    const opened = await newPage(browser, svc.url);
    contexts.push(opened.page.context());
    // The type of every frame the server sent, to know when every message has been acknowledged.
    const frames: string[] = [];
    opened.page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      frames.push(String((JSON.parse(String(payload)) as { type: string }).type));
    }));
    const w = await openWidget(opened.page, `${svc.url}/?org=${t.org.id}`);
    return { w, frames, ...opened };
  }

  /**
   * Once every message of the visitor is acknowledged (the "typing" frame, sent only when the bot is going to
   * answer, comes in the same socket write as its ack), the indicator must not be left spinning.
   */
  async function assertNotTyping(w: WidgetHandle, frames: string[]): Promise<void> {
    const mine = await w.log.locator('.cc-msg-me').count();
    await waitUntil(() => frames.filter((f) => f === 'ack').length >= mine);
    await w.page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    assert.equal(await w.panel.locator('.cc-typing').innerText(), '', 'no "Assistant is typing…" after the reply');
  }

  /** Sends text and waits for the reply that contains `expect`. */
  async function say(w: WidgetHandle, text: string, expect: string | RegExp): Promise<string> {
    await sendText(w, text);
    return ownText(await waitForBotText(w, expect, REPLY_TIMEOUT));
  }

  /** Taps an option button and waits for the reply that contains `expect`. */
  async function tap(w: WidgetHandle, label: string, expect: string | RegExp): Promise<void> {
    await clickOption(w, label);
    await waitForBotText(w, expect, REPLY_TIMEOUT);
  }

  /** Every server-backed bubble in the log, oldest first (the local greeting has no message id and is left out). */
  async function bubbles(w: WidgetHandle): Promise<Bubble[]> {
    return w.log.locator('.cc-msg-me, .cc-msg-bot[data-message-id], .cc-msg-staff').evaluateAll((nodes) => nodes.map((n) => ({
      who: n.classList.contains('cc-msg-me') ? 'me' as const : n.classList.contains('cc-msg-staff') ? 'staff' as const : 'bot' as const,
      text: [...n.childNodes].filter((c) => c.nodeType === Node.TEXT_NODE).map((c) => c.textContent).join(''),
    })));
  }

  async function conversationOf(t: TestOrg, conversationId: string): Promise<{ status: string; messages: ApiMessage[]; patient_id: string | null; channel: string }> {
    const res = await t.admin.client.get(`/api/v1/conversations/${conversationId}`);
    assert.equal(res.status, 200);
    return res.body.data;
  }

  /** The only web chat conversation of the clinic (each test has its own clinic and visitor). */
  async function onlyConversationId(t: TestOrg): Promise<string> {
    const res = await t.admin.client.get('/api/v1/conversations?channel=webchat');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.length, 1, 'one web chat conversation');
    return res.body.data[0].id;
  }

  const local = (iso: string) => DateTime.fromISO(iso, { zone: TZ });

  it('a visitor books in Spanish by typing: specialty, day and part of day in one sentence, then name, phone, a slot in words, "sí"', async () => {
    const t = await buildClinic();
    const phone = uniquePhone();
    const { w, page, foreignRequests, pageErrors, frames } = await visit(t);

    await say(w, 'Hola, quiero una cita con cardiología mañana por la tarde', '¿cuál es tu nombre completo?');
    await say(w, 'María Pérez', '¿En qué número de móvil puede localizarte la clínica?');
    await waitForBotText(w, 'Gracias, María Pérez.');
    await say(w, typedPhone(phone), 'Estas horas están libres:');
    const slots = await offeredOptions(w);
    assert.ok(slots.length >= 3, `several free times offered: ${JSON.stringify(slots)}`);
    assert.equal(slots[slots.length - 1], 'Otro día');
    const tomorrow = DateTime.now().setZone(TZ).plus({ days: 1 }).setLocale('es');
    for (const label of slots.slice(0, -1)) {
      assert.ok(label.startsWith(`${tomorrow.toFormat('cccc d')} de ${tomorrow.toFormat('LLLL')}, `), `"${label}" is tomorrow`);
      const hour = Number(label.slice(-5, -3));
      assert.ok(hour >= 12 && hour < 17, `"${label}" is in the afternoon`);
    }

    // Chosen in words, not by number.
    const chosen = slots[1]!;
    const question = await say(w, 'la segunda', '¿Reservo el');
    assert.match(question, new RegExp(`¿Reservo el ${chosen} con Dr\\. Elena García\\?`));
    assert.deepEqual(await offeredOptions(w), ['Sí', 'No']);
    const booked = await say(w, 'sí', '¡Listo! Tu cita está reservada');
    assert.match(booked, new RegExp(`${chosen} con Dr\\. Elena García`));
    assert.match(booked, /Room 3/);
    await assertNotTyping(w, frames);
    await page.screenshot({ path: '/tmp/e2e-booking-es.png' });

    const res = await t.admin.client.get('/api/v1/appointments');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.length, 1, 'one appointment in the clinic');
    const [appointment] = res.body.data;
    assert.equal(appointment.doctor_id, t.cardiology.id);
    assert.equal(appointment.patient_name, 'María Pérez');
    assert.equal(appointment.status, 'scheduled');
    assert.equal(appointment.source, 'web', 'booked on the web chat');
    assert.equal(local(appointment.start_time).setLocale('es').toFormat("cccc d 'de' LLLL, HH:mm"), chosen);
    const patient = await t.admin.client.get(`/api/v1/patients/${appointment.patient_id}`);
    assert.equal(patient.body.data.phone, phone, 'the typed number was stored in E.164');

    // The API holds the exchange the visitor saw, in order.
    const conversation = await conversationOf(t, await onlyConversationId(t));
    assert.equal(conversation.patient_id, appointment.patient_id);
    assert.equal(conversation.channel, 'webchat');
    assert.deepEqual(conversation.messages.map(asBubble), await bubbles(w));
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
  });

  it('a visitor books in English by tapping option buttons (typing only the name and phone)', async () => {
    const t = await buildClinic();
    const phone = uniquePhone();
    const { w, page, pageErrors, frames } = await visit(t);

    await say(w, 'Hello', 'Hello! I can help you with your appointments.');
    assert.deepEqual(await offeredOptions(w), ['Book an appointment', 'My appointments', 'Change an appointment', 'Cancel an appointment', 'Talk to a person']);
    await tap(w, 'Book an appointment', 'what is your full name?');
    assert.deepEqual(await offeredOptions(w), [], 'the answered menu is disabled');
    await say(w, 'John Carter', 'What mobile number can the clinic reach you on?');
    await say(w, typedPhone(phone), 'Which specialty do you need?');
    assert.deepEqual(await offeredOptions(w), ['Cardiology', 'General Practice']);
    await tap(w, 'General Practice', 'Which day suits you?');
    const days = await offeredOptions(w);
    assert.deepEqual(days.slice(0, 2), ['Today', 'Tomorrow']);
    await tap(w, 'Tomorrow', 'These times are free:');
    const slots = await offeredOptions(w);
    assert.equal(slots[slots.length - 1], 'Another day');
    const chosen = slots[0]!;
    await tap(w, chosen, `Shall I book ${chosen} with Dr. Tomás Ruiz?`);
    await tap(w, 'Yes', 'Done! Your appointment is booked:');
    await waitForBotText(w, `${chosen} with Dr. Tomás Ruiz`);
    await assertNotTyping(w, frames);
    await page.screenshot({ path: '/tmp/e2e-booking-en.png' });

    const res = await t.admin.client.get(`/api/v1/appointments?doctor_id=${t.general.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.data.length, 1);
    const [appointment] = res.body.data;
    assert.equal(appointment.patient_name, 'John Carter');
    assert.equal(appointment.source, 'web');
    const tomorrow = DateTime.now().setZone(TZ).plus({ days: 1 });
    assert.equal(local(appointment.start_time).toISODate(), tomorrow.toISODate());
    assert.equal(local(appointment.start_time).setLocale('en').toFormat('cccc d LLLL, HH:mm'), chosen);

    // Each tap sent its option's number; the widget showed its label.
    const conversation = await conversationOf(t, await onlyConversationId(t));
    const inbound = conversation.messages.filter((m) => m.direction === 'inbound').map((m) => m.content);
    assert.deepEqual(inbound, ['Hello', '1', 'John Carter', typedPhone(phone), '2', '2', '1', '1']);
    const shown = (await bubbles(w)).filter((b) => b.who === 'me').map((b) => b.text);
    assert.deepEqual(shown, ['Hello', 'Book an appointment', 'John Carter', typedPhone(phone), 'General Practice', 'Tomorrow', chosen, 'Yes']);
    assert.deepEqual(pageErrors, []);
  });

  it('a visitor asks for a person: handoff reply with the ticket, the ticket in the API, and the staff reply appears live', async () => {
    const t = await buildClinic();
    const { w, page, pageErrors, frames } = await visit(t);

    const told = await say(w, 'I want to talk to a person', 'I have passed your message to our team.');
    const number = /Your reference is #(\d+)\./.exec(told);
    assert.ok(number, `the reply gives the ticket number: ${told}`);

    const tickets = await t.admin.client.get('/api/v1/tickets');
    assert.equal(tickets.status, 200);
    assert.equal(tickets.body.data.length, 1);
    const [ticket] = tickets.body.data;
    assert.equal(ticket.number, Number(number[1]));
    assert.equal(ticket.category, 'general');
    assert.equal(ticket.priority, 'medium');
    assert.equal(ticket.status, 'open');
    assert.equal(ticket.source, 'bot');
    assert.ok(ticket.conversation_id, 'the ticket links the conversation');
    const conversationId: string = ticket.conversation_id;
    assert.equal((await conversationOf(t, conversationId)).status, 'handoff');

    // Staff answer from the API; the open window shows it without a reload.
    const staffText = 'Hi, this is Laura from reception. How can we help you today?';
    const posted = await t.admin.client.post(`/api/v1/conversations/${conversationId}/messages`, { content: staffText });
    assert.equal(posted.status, 201);
    const staffBubble = await waitForBotText(w, staffText, REPLY_TIMEOUT);
    assert.equal(await staffBubble.getAttribute('data-sender'), 'staff');
    assert.match(await staffBubble.innerText(), /^Clinic staff/);

    // The visitor answers; staff hold the conversation, so the bot stays silent.
    await sendText(w, 'I need to change the address on my file');
    await assertNotTyping(w, frames); // staff hold the conversation: the bot will not answer
    const secondStaff = 'Done, we have updated it.';
    await t.admin.client.post(`/api/v1/conversations/${conversationId}/messages`, { content: secondStaff });
    await waitForBotText(w, secondStaff, REPLY_TIMEOUT);
    await page.screenshot({ path: '/tmp/e2e-handoff.png' });

    const conversation = await conversationOf(t, conversationId);
    assert.deepEqual(conversation.messages.map((m) => [m.sender, m.content]), [
      ['patient', 'I want to talk to a person'],
      ['assistant', told],
      ['staff', staffText],
      ['patient', 'I need to change the address on my file'],
      ['staff', secondStaff],
    ]);
    assert.deepEqual(conversation.messages.map(asBubble), await bubbles(w), 'the window shows the whole exchange, in order');
    assert.equal(await w.log.locator('.cc-msg-bot[data-message-id]').count(), 1, 'the bot said nothing after the handoff');
    assert.deepEqual(pageErrors, []);
  });
});

/** A bubble's message text: its own text node; the labels ("Assistant:" for screen readers, "Clinic staff", "Sent") are child elements. */
function ownText(bubble: Locator): Promise<string> {
  return bubble.evaluate((n) => [...n.childNodes].filter((c) => c.nodeType === Node.TEXT_NODE).map((c) => c.textContent).join(''));
}

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function asBubble(m: ApiMessage): Bubble {
  if (m.direction === 'inbound') return { who: 'me', text: m.content };
  return { who: m.sender === 'staff' ? 'staff' : 'bot', text: m.content };
}
