import assert from 'node:assert/strict';
import type { RunningService } from '../../main.js';
import { testService } from '../support/service.js';
import { ALL_WEEK_HOURS, buildDoctor, buildPatient, createTestOrg, uniquePhone, type TestOrg } from '../support/factories.js';
import { FAKE_AUTH_TOKEN, FAKE_PUBLIC_URL } from '../support/fakeTwilio.js';
import { clientOn, startSmsService, stopSmsServices, uniqueTwilioNumber } from '../support/smsService.js';
import { TwilioCall, type Twiml } from '../support/voiceCall.js';
import { ApiClient } from '../support/client.js';
import { Conversation } from '../../models/conversations.js';
import { Message } from '../../models/messages.js';
import { Ticket } from '../../models/tickets.js';

const VOICE_ENV = { TWILIO_AUTH_TOKEN: FAKE_AUTH_TOKEN, PUBLIC_URL: FAKE_PUBLIC_URL };

interface VoiceClinic { t: TestOrg; svc: RunningService; api: ApiClient; number: string }

async function voiceClinic(settings: Record<string, unknown> = {}): Promise<VoiceClinic> {
  const number = uniqueTwilioNumber();
  const t = await createTestOrg({ timeZone: 'Europe/Madrid', settings: { voice_number: number, ...settings } });
  const svc = await startSmsService(null, [t.org.id], { env: VOICE_ENV });
  return { t, svc, number, api: await clientOn(svc, t) };
}

const spoken = (twiml: Twiml) => twiml.says.join(' | ');

/** Answers the bot's questions until it books: "yes" to a confirmation, otherwise the first option. */
async function bookByVoice(call: TwilioCall, first: Twiml): Promise<Twiml> {
  let twiml = first;
  for (let i = 0; i < 8 && !/booked/.test(spoken(twiml)); i++) {
    twiml = /Shall I book/.test(spoken(twiml)) ? await call.speak('yes') : await call.press('1');
  }
  return twiml;
}

describe('voice channel (Twilio calls)', () => {
  before(async function () {
    this.timeout(60_000);
    await testService();
  });
  afterEach(async () => {
    await stopSmsServices();
  });

  it('a patient calls, books by speech and keys, hangs up, and GET /call-logs/:id shows the transcript and the appointment', async () => {
    const c = await voiceClinic();
    await buildDoctor(c.t, { name: 'Dr. Joan Vives', specialization: 'Cardiology', working_hours: ALL_WEEK_HOURS() });
    const patient = await buildPatient(c.t, { name: 'Laura Puig', preferred_language: 'en' });
    const call = new TwilioCall(c.svc.url, patient.phone!, c.number);

    const answered = await call.dial();
    assert.equal(answered.status, 200);
    assert.match(answered.twiml.says[0]!, new RegExp(`Thank you for calling ${c.t.org.name}`));
    assert.match(spoken(answered.twiml), /What would you like to do\?/);
    assert.match(spoken(answered.twiml), /For Book an appointment, say it or press 1\./);
    assert.equal(answered.twiml.language, 'en-GB');
    assert.equal(answered.twiml.gatherAction, '/api/v1/voice/gather?n=1');
    assert.ok(answered.twiml.raw.includes('input="speech dtmf"'), answered.twiml.raw);
    assert.match(answered.twiml.raw, /hints="Book an appointment, My appointments, [^"]*Dr. Joan Vives, Cardiology"/, 'the recognizer expects the options and the doctors');

    const asked = await call.speak('I would like to book an appointment');
    assert.equal(call.last!.gatherAction, '/api/v1/voice/gather?n=2');
    const booked = await bookByVoice(call, asked);
    assert.match(spoken(booked), /Done! Your appointment is booked: \w+ \d+ \w+, \d\d:\d\d with Dr. Joan Vives\. Room 1\. We will/, "the lines read as sentences");
    assert.ok(booked.gatherAction, 'still listening after the booking');

    const ended = await call.status('completed', 95);
    assert.equal(ended.status, 200);
    assert.deepEqual(JSON.parse(ended.text), { success: true, message: 'Call status updated' });

    const list = await c.api.get('/api/v1/call-logs');
    assert.equal(list.status, 200);
    assert.equal(list.body.data.length, 1);
    const log = list.body.data[0];
    assert.equal(log.call_sid, call.callSid);
    assert.equal(log.status, 'completed');
    assert.equal(log.duration_seconds, 95);
    assert.equal(log.patient_id, patient.id);
    assert.equal(log.patient_name, 'Laura Puig');
    assert.equal(log.from_number, patient.phone);
    assert.ok(log.turns >= 3, `${log.turns} turns`);
    assert.match(log.summary, /^Booked Cardiology/);

    const detail = await c.api.get(`/api/v1/call-logs/${log.id}`);
    assert.equal(detail.status, 200);
    const d = detail.body.data;
    assert.match(d.transcript, /^Assistant: Hello!/);
    assert.match(d.transcript, /\nCaller: I would like to book an appointment\n/);
    assert.match(d.transcript, /Assistant: Done! Your appointment is booked/);
    const [appointment] = await c.t.svc.deps.db.knex('appointments').where({ organization_id: c.t.org.id, patient_id: patient.id }).select('id', 'source');
    assert.equal(appointment.source, 'voice');
    assert.equal(d.appointment_created, appointment.id);
    assert.deepEqual(d.patient, { id: patient.id, name: 'Laura Puig', phone: patient.phone });

    // The call's end closes its conversation and tells integrators.
    const conversation = await Conversation.query(c.t.svc.deps.db.knex).findById(log.conversation_id);
    assert.equal(conversation!.status, 'closed');
    assert.equal(conversation!.channel, 'voice');
    const events = await c.t.svc.deps.db.knex('events').where({ organization_id: c.t.org.id, event: 'call.completed' }).select('data');
    assert.equal(events.length, 1);
    assert.equal(events[0].data.call_id, log.id);
    assert.equal(events[0].data.duration_seconds, 95);
    // A second "completed" (Twilio retries callbacks) changes nothing.
    await call.status('completed', 96);
    assert.equal((await c.api.get(`/api/v1/call-logs/${log.id}`)).body.data.duration_seconds, 95);
  });

  it('a retried gather is answered again but stored once; silence repeats the question, and the call ends after two silences', async () => {
    const c = await voiceClinic();
    await buildDoctor(c.t, { working_hours: ALL_WEEK_HOURS() });
    const call = new TwilioCall(c.svc.url, uniquePhone(), c.number);
    await call.dial();
    const action = call.last!.gatherAction!;
    const first = await call.speak('what are my appointments', action);
    const again = await call.speak('what are my appointments', action);
    assert.deepEqual(again.says, first.says, 'Twilio retried the post: the same answer');
    const knex = c.t.svc.deps.db.knex;
    const inbound = await Message.query(knex).where({ organization_id: c.t.org.id, channel: 'voice', direction: 'inbound' });
    assert.equal(inbound.length, 1);
    assert.equal(inbound[0]!.provider_message_id, `${call.callSid}:1`);

    const quiet = await call.stayQuiet();
    assert.match(quiet.says[0]!, /didn't hear anything/);
    assert.equal(quiet.says[1], first.says[0], 'the last question again');
    assert.match(call.last!.gatherAction!, /silent=1/);
    const quieter = await call.stayQuiet();
    assert.ok(quieter.gatherAction, 'a second chance');
    const gone = await call.stayQuiet();
    assert.equal(gone.gatherAction, null);
    assert.ok(gone.hangup);
    assert.match(spoken(gone), /Goodbye/);
  });

  it('asking for a person opens a ticket and puts the call through to voice_transfer_number; without one the caller is told the clinic will call back', async () => {
    const withTransfer = await voiceClinic({ voice_transfer_number: '+34931234567' });
    const call = new TwilioCall(withTransfer.svc.url, uniquePhone(), withTransfer.number);
    await call.dial();
    const handed = await call.speak('I want to talk to a person');
    assert.match(spoken(handed), /Your reference is #1/);
    assert.match(spoken(handed), /put you through/);
    assert.equal(handed.dial, '+34931234567');
    assert.equal(handed.gatherAction, null);
    const ticket = await Ticket.query(withTransfer.t.svc.deps.db.knex).where({ organization_id: withTransfer.t.org.id }).first();
    assert.equal(ticket!.source, 'bot');
    assert.match(ticket!.description!, /I want to talk to a person/);
    await call.status('completed', 40);
    const conversation = await Conversation.query(withTransfer.t.svc.deps.db.knex).where({ organization_id: withTransfer.t.org.id }).first();
    assert.equal(conversation!.status, 'handoff', 'staff still hold it after the call');

    const without = await voiceClinic();
    const other = new TwilioCall(without.svc.url, uniquePhone(), without.number);
    await other.dial();
    const told = await other.speak('I want to talk to a person');
    assert.equal(told.dial, null);
    assert.ok(told.hangup);
    assert.match(spoken(told), /will call you back at this number/);
  });

  it('an emergency is told to call the emergency number, an urgent ticket is opened, and the call ends', async () => {
    const c = await voiceClinic({ emergency_number: '061' });
    const call = new TwilioCall(c.svc.url, uniquePhone(), c.number);
    await call.dial();
    const told = await call.speak('I have chest pain and cannot breathe');
    assert.match(spoken(told), /call 061 now/);
    assert.ok(told.hangup);
    assert.equal(told.dial, null, 'never put through to the clinic instead');
    const ticket = await Ticket.query(c.t.svc.deps.db.knex).where({ organization_id: c.t.org.id }).first();
    assert.equal(ticket!.priority, 'urgent');
    assert.equal(ticket!.category, 'emergency');
  });

  it("a call to a clinic's SMS number reaches that clinic; a staff reply during the call is spoken at the caller's next answer, one after it fails", async () => {
    const smsNumber = uniqueTwilioNumber();
    const t = await createTestOrg({ settings: { sms_number: smsNumber } });
    const svc = await startSmsService(null, [t.org.id], { env: VOICE_ENV });
    const api = await clientOn(svc, t);
    const call = new TwilioCall(svc.url, uniquePhone(), smsNumber);
    await call.dial();
    const [log] = (await api.get('/api/v1/call-logs')).body.data as { conversation_id: string; status: string }[];
    assert.ok(log, "the call is the SMS number's clinic's");
    assert.equal(log.status, 'in-progress');
    const reply = await api.post(`/api/v1/conversations/${log.conversation_id}/messages`, { content: 'Hola, soy Marta de recepción' });
    assert.equal(reply.status, 201);
    const heard = await call.speak('hello?');
    assert.ok(heard.says.includes('Hola, soy Marta de recepción'), spoken(heard));
    assert.match(spoken(heard), /will call you back/, 'staff hold the conversation now');
    const stored = await Message.query(svc.deps.db.knex).findById(reply.body.data.id);
    assert.equal(stored!.status, 'delivered');
    assert.equal(stored!.provider_message_id, call.callSid);

    // Typed after the caller hung up: nobody can hear it, so it fails visibly when the call ends.
    const late = await api.post(`/api/v1/conversations/${log.conversation_id}/messages`, { content: '¿Sigue ahí?' });
    await call.status('completed', 30);
    const unsaid = await Message.query(svc.deps.db.knex).findById(late.body.data.id);
    assert.equal(unsaid!.status, 'failed');
    assert.equal(unsaid!.last_error, 'call_ended');
  });

  it('a Spanish-speaking patient is greeted and heard in Spanish', async () => {
    const c = await voiceClinic();
    const patient = await buildPatient(c.t, { preferred_language: 'es' });
    const call = new TwilioCall(c.svc.url, patient.phone!, c.number);
    const answered = await call.dial();
    assert.equal(answered.twiml.language, 'es-ES');
    assert.match(answered.twiml.says[0]!, /^Gracias por llamar a /);
    assert.match(spoken(answered.twiml), /dilo o pulsa 1/);
    assert.ok(answered.twiml.raw.includes('language="es-ES"'));
  });

  it('refuses a call without a valid signature (403, nothing stored) and hangs up on a gather for an unknown call', async () => {
    const c = await voiceClinic();
    const forged = new TwilioCall(c.svc.url, uniquePhone(), c.number, { signing: { authToken: 'not-the-token' } });
    assert.equal((await forged.dial()).status, 403);
    assert.equal((await forged.status('completed', 3)).status, 403);
    assert.equal((await c.t.svc.deps.db.knex('calls').where({ organization_id: c.t.org.id }).count('* as n'))[0].n, 0);

    const stranger = new TwilioCall(c.svc.url, uniquePhone(), c.number);
    const twiml = await stranger.speak('hello', '/api/v1/voice/gather?n=1');
    assert.ok(twiml.hangup);
  });

  it('GET /call-logs filters by status and patient; another organization gets 404, and no token 401', async () => {
    const c = await voiceClinic();
    const patient = await buildPatient(c.t);
    const done = new TwilioCall(c.svc.url, patient.phone!, c.number);
    await done.dial();
    await done.status('completed', 12);
    const missed = new TwilioCall(c.svc.url, uniquePhone(), c.number);
    await missed.dial();
    await missed.status('no-answer');

    const ids = async (q: string) => ((await c.api.get(`/api/v1/call-logs?${q}`)).body.data as { call_sid: string }[]).map((r) => r.call_sid);
    assert.deepEqual(await ids('status=completed'), [done.callSid]);
    assert.deepEqual(await ids('status=no-answer'), [missed.callSid]);
    assert.deepEqual(await ids(`patient_id=${patient.id}`), [done.callSid]);
    assert.deepEqual((await ids('direction=inbound')).sort(), [done.callSid, missed.callSid].sort());
    assert.deepEqual(await ids('start_date=2000-01-01&end_date=2000-01-02'), []);
    const bad = await c.api.get('/api/v1/call-logs?status=hung-up');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.fields[0].field, 'status');

    const id = (await c.api.get('/api/v1/call-logs?status=completed')).body.data[0].id as string;
    const other = await createTestOrg();
    assert.equal((await (await clientOn(c.svc, other)).get(`/api/v1/call-logs/${id}`)).status, 404);
    assert.equal((await new ApiClient(c.svc.url).get('/api/v1/call-logs')).status, 401);
  });
});
