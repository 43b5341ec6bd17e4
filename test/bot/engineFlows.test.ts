import assert from 'node:assert/strict';
import type { RunningService } from '../../main.js';
import { Appointment } from '../../models/appointments.js';
import { Message } from '../../models/messages.js';
import { Patient } from '../../models/patients.js';
import { Ticket } from '../../models/tickets.js';
import { setReminderContext } from '../../bot/engine.js';
import { formatDateTime } from '../../bot/format.js';
import { buildAppointment, buildPatient, uniquePhone } from '../support/factories.js';
import { buildClinic, Chat, keys, reloadPatient, startEngineService } from './engineSupport.js';
import { DateTime } from 'luxon';

const ulidOf = (id: string) => id.slice(id.indexOf('_') + 1);

describe('conversation engine: handoff, emergencies, opt-out, language', function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => { svc = await startEngineService(); });

  it('"quiero hablar con una persona" opens a ticket, hands the conversation to staff, and the bot then stays silent', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { preferred_language: 'es' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!);
    const told = await chat.say('quiero hablar con una persona');
    assert.deepEqual(keys(told), ['handoff_told']);
    assert.match(told[0]!.content, /Tu referencia es #1\./);
    const ticket = (await Ticket.query(svc.deps.db.knex).where({ organization_id: t.org.id }).first())!;
    assert.equal(ticket.category, 'general');
    assert.equal(ticket.priority, 'medium');
    assert.equal(ticket.source, 'bot');
    assert.equal(ticket.patient_id, ana.id);
    assert.match(ticket.description!, /Last message: "quiero hablar con una persona"/);
    assert.ok(ticket.description!.length < 400, 'a short summary, not the conversation');
    const conv = await chat.conversation();
    assert.equal(conv.status, 'handoff');
    assert.equal(conv.escalated, true);

    assert.deepEqual(await chat.say('hola? sigue ahí alguien?'), []);
    assert.deepEqual(await chat.say('1'), []);
    assert.equal((await chat.inbound()).length, 3, 'messages in a handed-off conversation are still stored');
  });

  it('"move my Monday appointment to Thursday at 12" moves that appointment (of two), and books nothing new', async () => {
    const t = await buildClinic(svc);
    const bob = await buildPatient(t, { name: 'Bob Stone', preferred_language: 'en' });
    const at = (date: string, time: string) => DateTime.fromISO(`${date}T${time}`, { zone: 'Europe/Madrid' }).toJSDate();
    const monday = await buildAppointment(t, { patientId: bob.id, doctorId: t.dermatology.id, startTime: at('2030-03-11', '10:00') });
    const wednesday = await buildAppointment(t, { patientId: bob.id, doctorId: t.cardiology.id, startTime: at('2030-03-13', '10:00') });
    const chat = new Chat(svc, t.org.id, 'whatsapp', bob.phone!);
    const confirm = await chat.say('move my Monday appointment to Thursday at 12');
    assert.deepEqual(keys(confirm), ['confirm_reschedule']);
    assert.match(confirm[0]!.content, /from Monday 11 March, 10:00 to Thursday 7 March, 12:00/);
    assert.deepEqual(keys(await chat.say('yes')), ['rescheduled']);
    const rows = await Appointment.query(svc.deps.db.knex).where({ patient_id: bob.id }).orderBy('start_time');
    assert.deepEqual(rows.map((r) => [r.id, DateTime.fromJSDate(r.start_time, { zone: 'Europe/Madrid' }).toFormat('yyyy-MM-dd HH:mm')]), [
      [monday.id, '2030-03-07 12:00'], [wednesday.id, '2030-03-13 10:00'],
    ]);
  });

  for (const [phrase, category, priority, title, keysExpected] of [
    ["I'm running 15 minutes late, sorry", 'appointment', 'high', 'Patient running late', ['handoff_told']],
    ['necesito una receta para mis pastillas', 'medical', 'medium', 'Medical question from a patient', ['no_medical_advice', 'handoff_told']],
  ] as const) {
    it(`"${phrase}" opens a ${priority}-priority ${category} ticket ("${title}") and hands the conversation to staff`, async () => {
      const t = await buildClinic(svc);
      const ana = await buildPatient(t, { preferred_language: 'en' });
      const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!);
      assert.deepEqual(keys(await chat.say(phrase)), keysExpected);
      const ticket = (await Ticket.query(svc.deps.db.knex).where({ organization_id: t.org.id }).first())!;
      assert.deepEqual([ticket.category, ticket.priority, ticket.title], [category, priority, title]);
      assert.equal((await chat.conversation()).status, 'handoff');
    });
  }

  for (const [phrase, lang] of [['tengo dolor en el pecho', 'es'], ["I can't breathe", 'en'], ['सीने में दर्द', 'hi'], ['no puc respirar', 'ca']] as const) {
    it(`"${phrase}" queues emergency guidance first, then opens an urgent ticket`, async () => {
      const t = await buildClinic(svc, { emergency_number: '061' });
      const patient = await buildPatient(t, { preferred_language: lang });
      const chat = new Chat(svc, t.org.id, 'sms', patient.phone!);
      const replies = await chat.say(phrase);
      assert.deepEqual(keys(replies), ['emergency', 'emergency_ticket']);
      assert.match(replies[0]!.content, /061/);
      assert.match(replies[1]!.content, /#1/);
      const ticket = await svc.deps.db.knex('tickets').where({ organization_id: t.org.id }).first();
      assert.equal(ticket.category, 'emergency');
      assert.equal(ticket.priority, 'urgent');
      assert.ok(ulidOf(replies[0]!.id) < ulidOf(ticket.id), 'the guidance was queued before the ticket was created');
      assert.equal((await chat.conversation()).status, 'handoff');
    });
  }

  it('uses EMERGENCY_NUMBER when the clinic set none', async () => {
    const other = await startEngineService({ EMERGENCY_NUMBER: '999' });
    const t = await buildClinic(other);
    await t.svc.deps.db.knex('organizations').where({ id: t.org.id }).update({ settings: JSON.stringify({ cancellation_window_hours: 24 }) });
    const chat = new Chat(other, t.org.id, 'sms', uniquePhone());
    const [guidance] = await chat.say("I can't breathe");
    assert.match(guidance!.content, /call 999 now/);
  });

  it('STOP and BAJA opt out with a transactional confirmation; START opts back in', async () => {
    const t = await buildClinic(svc);
    for (const word of ['STOP', 'BAJA']) {
      const p = await buildPatient(t);
      const chat = new Chat(svc, t.org.id, 'sms', p.phone!);
      const [confirmation] = await chat.say(word);
      assert.equal(confirmation!.metadata.reply_key, 'opted_out');
      assert.equal(confirmation!.metadata.transactional, true);
      assert.ok((await reloadPatient(svc, p.id)).opted_out_at, `${word} sets opted_out_at`);
      if (word === 'STOP') {
        assert.deepEqual(keys(await chat.say('START')), ['opted_in', 'menu']);
        assert.equal((await reloadPatient(svc, p.id)).opted_out_at, null);
      }
    }
  });

  it('STOP works while staff hold the conversation, and from a number the clinic does not know', async () => {
    const t = await buildClinic(svc);
    const p = await buildPatient(t);
    const chat = new Chat(svc, t.org.id, 'whatsapp', p.phone!);
    await chat.say('agent please');
    assert.equal((await chat.conversation()).status, 'handoff');
    assert.deepEqual(keys(await chat.say('STOP')), ['opted_out']);
    assert.ok((await reloadPatient(svc, p.id)).opted_out_at);

    const stranger = uniquePhone();
    const unknown = new Chat(svc, t.org.id, 'sms', stranger);
    assert.deepEqual(keys(await unknown.say('STOP')), ['opted_out']);
    const made = await Patient.query(svc.deps.db.knex).findOne({ organization_id: t.org.id, phone: stranger });
    assert.ok(made?.opted_out_at, 'the opt-out of an unknown number is kept on a new patient record');
  });

  it('switches language mid-conversation and remembers it for the conversation and the patient', async () => {
    const t = await buildClinic(svc);
    const p = await buildPatient(t, { preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', p.phone!);
    const english = await chat.say('I want to book an appointment');
    assert.deepEqual(keys(english), ['ask_specialty']);
    assert.match(english[0]!.content, /Which specialty/);
    const spanish = await chat.say('no entiendo, puedes hablar en español por favor');
    assert.ok(spanish.length > 0);
    assert.ok(spanish.every((m) => !/Which|Sorry/.test(m.content)), 'the replies are in Spanish');
    assert.match(spanish[spanish.length - 1]!.content, /especialidad/i);
    assert.equal((await chat.conversation()).language, 'es');
    assert.equal((await reloadPatient(svc, p.id)).preferred_language, 'es');
  });

  it('offers a person after three messages it does not understand', async () => {
    const t = await buildClinic(svc);
    const p = await buildPatient(t, { preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'sms', p.phone!);
    assert.deepEqual(keys(await chat.say('asdf qwer')), ['not_understood', 'menu']);
    assert.deepEqual(keys(await chat.say('zzzz')), ['not_understood', 'menu']);
    const offer = await chat.say('blorp');
    assert.deepEqual(keys(offer), ['offer_person']);
    assert.deepEqual(offer[0]!.options!.map((o) => o.label), ['Talk to a person', 'Main menu']);
  });

  it('a reminder context turns the next message into the reminder answer (1 confirms)', async () => {
    const t = await buildClinic(svc);
    const p = await buildPatient(t, { preferred_language: 'en' });
    const start = DateTime.fromISO('2030-03-08T10:00', { zone: 'Europe/Madrid' }).toJSDate();
    const appt = await buildAppointment(t, { patientId: p.id, doctorId: t.cardiology.id, startTime: start });
    const chat = new Chat(svc, t.org.id, 'whatsapp', p.phone!);
    await chat.say('hello');
    await setReminderContext(svc.deps.db.knex, { organizationId: t.org.id }, chat.conversationId!, appt.id);
    assert.deepEqual(keys(await chat.say('1')), ['reminder_confirmed']);
    assert.equal((await svc.deps.db.knex('appointments').where({ id: appt.id }).first()).status, 'confirmed');
    // The context is used once: the next "1" is a menu choice again.
    assert.deepEqual(keys(await chat.say('1')), ['ask_specialty']);
  });

  it('queues replies as assistant messages that the dispatcher can send (web chat rows are picked up)', async () => {
    const t = await buildClinic(svc);
    const p = await buildPatient(t);
    const chat = new Chat(svc, t.org.id, 'sms', p.phone!);
    const [reply] = await chat.say('hola');
    const row = await Message.query(svc.deps.db.knex).findById(reply!.id);
    assert.equal(row!.status, 'queued', 'no SMS adapter is registered yet: the row waits in the outbox');
    assert.equal(row!.to_address, p.phone);
    assert.equal(row!.patient_id, p.id);
  });

  it('writes dates in each language in the clinic time zone (Catalan elides "de" before a vowel)', () => {
    const nov = '2026-11-25T09:30:00Z';
    assert.equal(formatDateTime(nov, 'en', 'Europe/Madrid'), 'Wednesday 25 November, 10:30');
    assert.equal(formatDateTime(nov, 'es', 'Europe/Madrid'), 'miércoles 25 de noviembre, 10:30');
    assert.equal(formatDateTime(nov, 'ca', 'Europe/Madrid'), 'dimecres 25 de novembre, 10:30');
    assert.equal(formatDateTime('2026-04-25T09:30:00Z', 'ca', 'Europe/Madrid'), "dissabte 25 d'abril, 11:30");
    assert.equal(formatDateTime(nov, 'hi', 'Asia/Kolkata'), 'बुधवार 25 नवंबर, 15:00');
  });
});
