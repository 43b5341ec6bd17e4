import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { RunningService } from '../../main.js';
import { Appointment } from '../../models/appointments.js';
import { Conversation } from '../../models/conversations.js';
import { Message } from '../../models/messages.js';
import { Patient } from '../../models/patients.js';
import { bookAppointment } from '../../models/appointments.js';
import { CLINIC_CHANGED_CHANNEL } from '../../models/clinicChanges.js';
import { updateDoctor } from '../../models/doctors.js';
import { buildAppointment, buildDoctor, buildPatient, buildWebchatSession, createTestOrg, uniquePhone } from '../support/factories.js';
import { buildClinic, Chat, keys, NOW, startEngineService, TZ } from './engineSupport.js';
import { VisitorClient } from '../support/webchat.js';

/** Runs `change` and returns once the clinic-changed notification it causes has been heard (and so acted on by every engine). */
async function clinicChanged(svc: RunningService, orgId: string, change: () => Promise<unknown>): Promise<void> {
  // Handlers run in the order they subscribed: when this one hears the notification, the instances' engines have.
  let hear = () => {};
  const heard = new Promise<void>((resolve) => { hear = resolve; });
  const unlisten = await svc.deps.db.listen(CLINIC_CHANGED_CHANNEL, (org) => { if (org === orgId) hear(); });
  await change();
  await heard;
  await unlisten();
}
import { ApiClient } from '../support/client.js';

const local = (iso: Date | string) => DateTime.fromJSDate(new Date(iso), { zone: TZ }).toFormat('yyyy-MM-dd HH:mm');
const at = (date: string, time: string) => DateTime.fromISO(`${date}T${time}`, { zone: TZ }).toJSDate();

describe('conversation engine: booking, changes, identity and concurrency', function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => { svc = await startEngineService(); });

  it('books by numbered replies on web chat: name, phone, specialty, day, slot, yes', async () => {
    const t = await buildClinic(svc);
    const session = await buildWebchatSession(t, NOW);
    const chat = new Chat(svc, t.org.id, 'webchat', session.sessionId);
    chat.conversationId = session.conversationId;
    const phone = uniquePhone();

    assert.deepEqual(keys(await chat.say('hello')), ['welcome']);
    assert.deepEqual(keys(await chat.say('1')), ['ask_name']);
    assert.deepEqual(keys(await chat.say('Laura Smith')), ['nice_to_meet', 'ask_phone']);
    const specialty = await chat.say(phone);
    assert.deepEqual(keys(specialty), ['ask_specialty']);
    assert.deepEqual(specialty[0]!.options!.map((o) => o.label), ['Cardiology', 'Dermatology']);
    const day = await chat.say('1');
    assert.deepEqual(keys(day), ['ask_day']);
    assert.equal(day[0]!.options![1]!.label, 'Tomorrow');
    const slots = await chat.say('2');
    assert.deepEqual(keys(slots), ['offer_slots']);
    assert.equal(slots[0]!.options![0]!.label, 'Wednesday 6 March, 08:00');
    const confirm = await chat.say('1');
    assert.deepEqual(keys(confirm), ['confirm_booking']);
    assert.match(confirm[0]!.content, /Wednesday 6 March, 08:00 with Dr\. Elena García/);
    const booked = await chat.say('1');
    assert.deepEqual(keys(booked), ['booked']);
    assert.match(booked[0]!.content, /Room 1/);

    const knex = svc.deps.db.knex;
    const patient = await Patient.query(knex).findOne({ organization_id: t.org.id, phone });
    assert.ok(patient, 'the visitor became a patient with the E.164 number');
    assert.equal(patient.name, 'Laura Smith');
    const appointments = await Appointment.query(knex).where({ organization_id: t.org.id, patient_id: patient.id });
    assert.equal(appointments.length, 1);
    assert.equal(appointments[0]!.doctor_id, t.cardiology.id);
    assert.equal(local(appointments[0]!.start_time), '2030-03-06 08:00');
    assert.equal(appointments[0]!.source, 'web');
    const conv = await chat.conversation();
    assert.equal(conv.patient_id, patient.id);
    assert.match(conv.summary ?? '', /^Booked Cardiology on 2030-03-06 08:00/);
    const sessionRow = await knex('webchat_sessions').where({ id: session.sessionId }).first();
    assert.equal(sessionRow.patient_id, patient.id);
    // Every reply is a queued assistant row addressed to the session, with its options attached.
    for (const m of await chat.replies()) {
      assert.equal(m.sender, 'assistant');
      assert.equal(m.to_address, session.sessionId);
    }
  });

  it('answers a web chat visitor end to end: socket -> engine -> outbox -> dispatcher -> socket', async () => {
    const t = await buildClinic(svc);
    const { client, session } = await VisitorClient.open(svc.url, { org: t.org.id });
    try {
      client.sendMessage('c-1', 'hello');
      const reply = await client.next((f) => f.type === 'message');
      assert.match(String(reply.text), /^Hello! I can help you with your appointments/);
      assert.deepEqual((reply.options as { label: string }[]).map((o) => o.label),
        ['Book an appointment', 'My appointments', 'Change an appointment', 'Cancel an appointment', 'Talk to a person']);
      const conv = await Conversation.query(svc.deps.db.knex).findById(session.conversation_id);
      assert.equal(conv!.message_count, 2);
    } finally {
      await client.close();
    }
  });

  it('acknowledges a web chat message as soon as it is stored, with typing while the bot answers; a resent id, or a conversation staff hold, gets the ack alone', async () => {
    const t = await buildClinic(svc);
    const { client, session } = await VisitorClient.open(svc.url, { org: t.org.id });
    const types = (from: number) => client.frames.slice(from).map((f) => f.type);
    try {
      client.sendMessage('c-1', 'hello');
      await client.next((f) => f.type === 'message');
      assert.deepEqual(types(1), ['ack', 'typing', 'message'], 'ack and typing come before the reply');

      // The same client id again: stored once, acknowledged again, nothing to wait for.
      const mark = client.frames.length;
      client.sendMessage('c-1', 'hello');
      const again = await client.next((f) => f.type === 'ack');
      assert.equal(again.message_id, client.frames[1]!.message_id);

      // Staff take the conversation: the bot stays silent, so no typing.
      await svc.deps.db.knex('conversations').where({ id: session.conversation_id }).update({ status: 'handoff' });
      client.sendMessage('c-2', 'is anyone there?');
      // A socket's messages are handled one after another: c-3's ack comes after everything c-2's turn sent.
      client.sendMessage('c-3', 'hello?');
      await client.next((f) => f.type === 'ack' && f.id === 'c-3');
      assert.deepEqual(types(mark), ['ack', 'ack', 'ack']);
      assert.equal(await Message.query(svc.deps.db.knex).where({ conversation_id: session.conversation_id, direction: 'inbound' }).resultSize(), 3);
    } finally {
      await client.close();
    }
  });

  it('GET /api/v1/channels shows each channel and its state without a token', async () => {
    const res = await new ApiClient(svc.url).get('/api/v1/channels');
    assert.equal(res.status, 200);
    const webchat = res.body.data.find((c: { name: string }) => c.name === 'webchat');
    assert.equal(webchat.enabled, true);
    assert.equal(webchat.status, 'up');
  });

  it('books in Spanish from one sentence: "quiero una cita con cardiología mañana por la tarde"', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { name: 'Ana López', preferred_language: 'es' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!);
    const slots = await chat.say('quiero una cita con cardiología mañana por la tarde');
    assert.deepEqual(keys(slots), ['offer_slots']);
    assert.match(slots[0]!.content, /horas libres|libres/i);
    assert.equal(slots[0]!.options![0]!.label, 'miércoles 6 de marzo, 12:00');
    assert.deepEqual(keys(await chat.say('1')), ['confirm_booking']);
    const booked = await chat.say('sí');
    assert.deepEqual(keys(booked), ['booked']);
    assert.match(booked[0]!.content, /miércoles 6 de marzo, 12:00/);
    const [appointment] = await Appointment.query(svc.deps.db.knex).where({ patient_id: ana.id });
    assert.equal(local(appointment!.start_time), '2030-03-06 12:00');
    assert.equal(appointment!.status, 'scheduled');
    assert.equal((await chat.conversation()).intent, 'affirm');
  });

  it('offers a specialty\'s free times once each, each with one of the doctors free then, and finds a time asked for beyond the first five', async () => {
    const t = await buildClinic(svc);
    await buildDoctor(t, { name: 'Dr. Ana Bosch', specialization: 'Cardiology' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', (await buildPatient(t, { preferred_language: 'en' })).phone!);
    const slots = await chat.say('I want an appointment with cardiology tomorrow morning');
    assert.deepEqual(keys(slots), ['offer_slots']);
    const labels = slots[0]!.options!.map((o) => o.label);
    assert.equal(labels.pop(), 'Another day');
    const offered = labels.map((l) => /^Wednesday 6 March, (\d\d:\d\d) — (Dr\. Elena García|Dr\. Ana Bosch)$/.exec(l)?.slice(1));
    assert.deepEqual(offered.map((o) => o?.[0]), ['08:00', '08:30', '09:00', '09:30', '10:00'], `each time once: ${labels.join(' | ')}`);
    assert.equal(new Set(offered.map((o) => o?.[1])).size, 1, 'one doctor throughout, as both are free all morning');
    const confirm = await chat.say('2');
    assert.match(confirm[0]!.content, /Wednesday 6 March, 08:30 with Dr\. (Elena García|Ana Bosch)/);

    const later = new Chat(svc, t.org.id, 'whatsapp', (await buildPatient(t, { preferred_language: 'en' })).phone!);
    const exact = await later.say('I want an appointment with cardiology tomorrow at 16:30');
    assert.deepEqual(keys(exact), ['confirm_booking'], 'the time asked for is found, not only among the first free ones');
    assert.match(exact[0]!.content, /Wednesday 6 March, 16:30 with Dr\. (Elena García|Ana Bosch)/);
  });

  it('cancels an upcoming appointment after a yes', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { preferred_language: 'es' });
    const appt = await buildAppointment(t, { patientId: ana.id, doctorId: t.cardiology.id, startTime: at('2030-03-10', '10:00') });
    const chat = new Chat(svc, t.org.id, 'sms', ana.phone!);
    const ask = await chat.say('quiero cancelar mi cita');
    assert.deepEqual(keys(ask), ['confirm_cancel']);
    assert.match(ask[0]!.content, /domingo 10 de marzo, 10:00/);
    assert.deepEqual(keys(await chat.say('sí')), ['cancelled']);
    const row = await Appointment.query(svc.deps.db.knex).findById(appt.id);
    assert.equal(row!.status, 'cancelled');
    assert.equal(row!.cancelled_by, 'patient');
  });

  it('refuses a cancel inside the cancellation window and offers a person, who gets a ticket', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { preferred_language: 'en' });
    const appt = await buildAppointment(t, { patientId: ana.id, doctorId: t.cardiology.id, startTime: at('2030-03-05', '13:00') });
    const chat = new Chat(svc, t.org.id, 'sms', ana.phone!);
    assert.deepEqual(keys(await chat.say('I want to cancel my appointment')), ['confirm_cancel']);
    const refused = await chat.say('yes');
    assert.deepEqual(keys(refused), ['cancel_refused']);
    assert.deepEqual(refused[0]!.options!.map((o) => o.label), ['Talk to a person', 'Main menu']);
    assert.equal((await Appointment.query(svc.deps.db.knex).findById(appt.id))!.status, 'scheduled');
    assert.deepEqual(keys(await chat.say('1')), ['handoff_told']);
    const ticket = await svc.deps.db.knex('tickets').where({ organization_id: t.org.id }).first();
    assert.equal(ticket.category, 'general');
    assert.equal(ticket.conversation_id, chat.conversationId);
    assert.equal((await chat.conversation()).status, 'handoff');
  });

  it('reschedules an appointment: the same row moves to the new time', async () => {
    const t = await buildClinic(svc);
    const bob = await buildPatient(t, { name: 'Bob Stone', preferred_language: 'en' });
    const appt = await buildAppointment(t, { patientId: bob.id, doctorId: t.dermatology.id, startTime: at('2030-03-11', '10:00') });
    const chat = new Chat(svc, t.org.id, 'whatsapp', bob.phone!);
    const day = await chat.say('I want to change my appointment');
    assert.deepEqual(keys(day), ['ask_day']);
    const slots = await chat.say('3');
    assert.deepEqual(keys(slots), ['offer_slots']);
    assert.equal(slots[0]!.options![0]!.label, 'Thursday 7 March, 08:00');
    const confirm = await chat.say('1');
    assert.deepEqual(keys(confirm), ['confirm_reschedule']);
    assert.match(confirm[0]!.content, /from Monday 11 March, 10:00 to Thursday 7 March, 08:00/);
    assert.deepEqual(keys(await chat.say('yes')), ['rescheduled']);
    const rows = await Appointment.query(svc.deps.db.knex).where({ patient_id: bob.id });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.id, appt.id);
    assert.equal(local(rows[0]!.start_time), '2030-03-07 08:00');
    assert.equal(rows[0]!.status, 'scheduled');
  });

  it('a reschedule whose new slot was taken meanwhile keeps the old appointment and offers fresh times', async () => {
    const t = await buildClinic(svc);
    const bob = await buildPatient(t, { preferred_language: 'en' });
    const other = await buildPatient(t);
    const appt = await buildAppointment(t, { patientId: bob.id, doctorId: t.dermatology.id, startTime: at('2030-03-11', '10:00') });
    const chat = new Chat(svc, t.org.id, 'whatsapp', bob.phone!);
    await chat.say('I want to change my appointment');
    await chat.say('3');
    assert.deepEqual(keys(await chat.say('1')), ['confirm_reschedule']);
    // Someone else takes 08:00 before the patient says yes.
    await bookAppointment(svc.deps.db.knex, { organizationId: t.org.id }, { patientId: other.id, doctorId: t.dermatology.id, startTime: at('2030-03-07', '08:00'), durationMinutes: 30, actor: 'staff' });
    const conflict = await chat.say('yes');
    assert.deepEqual(keys(conflict), ['reschedule_conflict']);
    assert.equal(conflict[0]!.options![0]!.label, 'Thursday 7 March, 08:30');
    const kept = await Appointment.query(svc.deps.db.knex).findById(appt.id);
    assert.equal(local(kept!.start_time), '2030-03-11 10:00');
    assert.equal(kept!.status, 'scheduled');
  });

  it('links an unknown web chat visitor to the existing patient with the same phone', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { name: 'Ana López', preferred_language: 'es' });
    const session = await buildWebchatSession(t, NOW);
    const chat = new Chat(svc, t.org.id, 'webchat', session.sessionId);
    chat.conversationId = session.conversationId;
    assert.deepEqual(keys(await chat.say('quiero pedir una cita')), ['ask_name']);
    assert.deepEqual(keys(await chat.say('Ana López')), ['nice_to_meet', 'ask_phone']);
    // Written the local way, without the country code.
    const local9 = ana.phone!.replace('+34', '').replace(/(\d{3})(\d{3})(\d{3})/, '$1 $2 $3');
    assert.deepEqual(keys(await chat.say(local9)), ['ask_specialty']);
    const knex = svc.deps.db.knex;
    assert.equal((await Patient.query(knex).where({ organization_id: t.org.id, phone: ana.phone })).length, 1);
    assert.equal((await Patient.query(knex).where({ organization_id: t.org.id })).length, 1, 'no second patient was created');
    assert.equal((await chat.conversation()).patient_id, ana.id);
    assert.equal((await knex('webchat_sessions').where({ id: session.sessionId }).first()).patient_id, ana.id);
  });

  it('asks again, with the country code, for a number the clinic could not dial, and never asks a known number again', async () => {
    // A clinic whose zone says nothing of its country: a number without "+" cannot be dialled.
    const t = await createTestOrg({ svc, timeZone: 'UTC' });
    await buildDoctor(t, { name: 'Dr. Elena García', specialization: 'Cardiology' });
    const session = await buildWebchatSession(t, NOW);
    const chat = new Chat(svc, t.org.id, 'webchat', session.sessionId);
    chat.conversationId = session.conversationId;
    assert.deepEqual(keys(await chat.say('I want to book an appointment')), ['ask_name']);
    assert.deepEqual(keys(await chat.say('Ana López')), ['nice_to_meet', 'ask_phone']);
    assert.deepEqual(keys(await chat.say('612 345 678')), ['invalid_phone']);
    assert.equal((await Patient.query(svc.deps.db.knex).where({ organization_id: t.org.id })).length, 0, 'nobody is made without a number yet');
    const phone = uniquePhone();
    assert.deepEqual(keys(await chat.say(phone)), ['ask_day']);
    const [patient] = await Patient.query(svc.deps.db.knex).where({ organization_id: t.org.id });
    assert.equal(patient!.phone, phone);
    assert.deepEqual(keys(await chat.say('menu')), ['menu']);
    assert.deepEqual(keys(await chat.say('show my appointments')), ['appointments_none'], 'the number is not asked for again');
  });

  it('four web chat visitors giving the same new phone number at once become one patient, and every conversation is linked to it', async () => {
    const t = await buildClinic(svc);
    const chats = await Promise.all([1, 2, 3, 4].map(async () => {
      const session = await buildWebchatSession(t, NOW);
      const chat = new Chat(svc, t.org.id, 'webchat', session.sessionId);
      chat.conversationId = session.conversationId;
      assert.deepEqual(keys(await chat.say('I want to book an appointment')), ['ask_name']);
      assert.deepEqual(keys(await chat.say('Marta Puig')), ['nice_to_meet', 'ask_phone']);
      return chat;
    }));
    // All at once: on PostgreSQL the turns look the number up before any of them has stored it, so all but one
    // find it taken when they insert and link to the patient that one created.
    const replies = await Promise.all(chats.map((chat) => chat.say('+34 611 222 333')));
    for (const r of replies) assert.deepEqual(keys(r), ['ask_specialty']);
    const knex = svc.deps.db.knex;
    const patients = await Patient.query(knex).where({ organization_id: t.org.id, phone: '+34611222333' });
    assert.equal(patients.length, 1);
    for (const chat of chats) assert.equal((await chat.conversation()).patient_id, patients[0]!.id);
  });

  it('answers a redelivered provider message id once: one stored message, one reply', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t);
    const chat = new Chat(svc, t.org.id, 'sms', ana.phone!);
    const first = await chat.send('hola', { providerMessageId: 'SM-dup-1' });
    const again = await chat.send('hola', { providerMessageId: 'SM-dup-1' });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, first.messageId);
    assert.equal((await chat.inbound()).length, 1);
    assert.equal((await chat.replies()).length, 1);
  });

  it('serializes concurrent messages of one conversation: 5 stored, 5 state saves, no lost update', async () => {
    const t = await buildClinic(svc);
    const ana = await buildPatient(t, { preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!);
    const results = await Promise.all(['asdf', 'qwerty', 'zzzz', 'blorp', 'grrr'].map((text) => chat.send(text)));
    assert.equal(new Set(results.map((r) => r.conversationId)).size, 1, 'one conversation');
    chat.conversationId = results[0]!.conversationId;
    assert.equal((await chat.inbound()).length, 5);
    assert.equal((await chat.conversation()).state_version, 5);
    // Each turn saw the previous one's count of misunderstandings: the third offers a person, and so do the ones after.
    assert.deepEqual(keys(await chat.replies()).filter((k) => k !== 'menu'),
      ['not_understood', 'not_understood', 'offer_person', 'offer_person', 'offer_person']);
  });

  it('offers a doctor added, and stops offering one made inactive, at the next turn on another instance (the clinic cache is dropped through NOTIFY)', async () => {
    const t = await buildClinic(svc);
    const other = await startEngineService();
    const ana = await buildPatient(t, { preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', ana.phone!, other.engine);
    const specialties = async () => {
      const [ask] = await chat.say('I want to book an appointment');
      assert.equal(keys([ask!])[0], 'ask_specialty');
      return ask!.options!.map((o) => o.label);
    };
    // The other instance has read the clinic (and caches it for 30 s).
    assert.deepEqual(await specialties(), ['Cardiology', 'Dermatology']);
    const changed = (change: () => Promise<unknown>) => clinicChanged(svc, t.org.id, change);
    await changed(() => buildDoctor(t, { name: 'Dr. Nadia Rahman', specialization: 'Neurology' }));
    assert.deepEqual(await specialties(), ['Cardiology', 'Dermatology', 'Neurology']);
    await changed(() => updateDoctor(svc.deps.db.knex, { organizationId: t.org.id }, t.cardiology.id, { active: false }));
    assert.deepEqual(await specialties(), ['Dermatology', 'Neurology']);
  });

  it('offers the times of a doctor\'s new working hours at the next turn on another instance (the cached hours go with the clinic)', async () => {
    const t = await buildClinic(svc);
    const other = await startEngineService();
    const firstOffer = async () => {
      const patient = await buildPatient(t, { preferred_language: 'en' });
      const chat = new Chat(svc, t.org.id, 'whatsapp', patient.phone!, other.engine);
      assert.deepEqual(keys(await chat.say('I want to book an appointment')), ['ask_specialty']);
      assert.deepEqual(keys(await chat.say('1')), ['ask_day']);
      const [offer] = await chat.say('tomorrow');
      assert.equal(keys([offer!])[0], 'offer_slots');
      return offer!.options![0]!.label;
    };
    assert.match(await firstOffer(), /08:00/);
    const afternoons = Object.fromEntries(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, ['15:00-17:00']]));
    await clinicChanged(svc, t.org.id, () => updateDoctor(svc.deps.db.knex, { organizationId: t.org.id }, t.cardiology.id, { working_hours: afternoons }));
    assert.match(await firstOffer(), /15:00/);
  });

  it('continues a booking after a restart: a new service on the same database picks up the dialogue', async () => {
    const first = await startEngineService();
    const t = await buildClinic(first);
    const ana = await buildPatient(t, { name: 'Ana López', preferred_language: 'en' });
    const before = new Chat(first, t.org.id, 'whatsapp', ana.phone!);
    assert.deepEqual(keys(await before.say('I want to book an appointment')), ['ask_specialty']);
    assert.deepEqual(keys(await before.say('2')), ['ask_day']);
    await first.stop();

    const second = await startEngineService();
    const after = new Chat(second, t.org.id, 'whatsapp', ana.phone!);
    after.conversationId = before.conversationId;
    assert.deepEqual(keys(await after.say('tomorrow')), ['offer_slots']);
    assert.deepEqual(keys(await after.say('2')), ['confirm_booking']);
    assert.deepEqual(keys(await after.say('yes')), ['booked']);
    const [appointment] = await Appointment.query(second.deps.db.knex).where({ patient_id: ana.id });
    assert.equal(appointment!.doctor_id, t.dermatology.id);
    assert.equal(local(appointment!.start_time), '2030-03-06 08:30');
    assert.equal((await Conversation.query(second.deps.db.knex).where({ patient_id: ana.id })).length, 1);
    assert.equal((await Message.query(second.deps.db.knex).where({ conversation_id: after.conversationId, direction: 'inbound' })).length, 5);
  });
});
