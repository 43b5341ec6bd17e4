import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { RunningService } from '../../main.js';
import { Appointment } from '../../models/appointments.js';
import { buildPatient } from '../support/factories.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fakeOpenAI.js';
import { buildClinic, Chat, keys, startEngineService } from './engineSupport.js';

describe('conversation engine with an LLM understander (fake OpenAI-compatible server)', function () {
  this.timeout(30_000);
  let fake: FakeOpenAI;
  let svc: RunningService;

  before(async () => {
    fake = await startFakeOpenAI();
    svc = await startEngineService({ OPENAI_BASE_URL: fake.baseURL, OPENAI_TIMEOUT_MS: '300', OPENAI_MODEL: 'fake-model' });
  });
  after(async () => {
    await svc.stop();
    await fake.close();
  });

  async function patientChat(lang = 'en') {
    const t = await buildClinic(svc);
    const p = await buildPatient(t, { name: 'Ana López', preferred_language: lang });
    return { t, p, chat: new Chat(svc, t.org.id, 'whatsapp', p.phone!) };
  }

  it('a classify_message tool call drives the booking through the same domain operations', async () => {
    const { p, chat } = await patientChat();
    fake.setMode({
      kind: 'tool',
      args: (text) => (text === '1' ? { intent: 'choose', choice: 1 } : text === 'sounds good'
        ? { intent: 'affirm', language: 'en' }
        : { intent: 'book', language: 'en', specialization: 'Cardiology', date: '2030-03-06', part_of_day: 'afternoon' }),
    });
    const sent = fake.requests.length;
    const slots = await chat.say('could the heart doctor see me the day after today, after lunch?');
    assert.deepEqual(keys(slots), ['offer_slots']);
    assert.equal(slots[0]!.options![0]!.label, 'Wednesday 6 March, 12:00');
    const request = fake.requests[sent]!;
    assert.equal(request.body.model, 'fake-model');
    assert.ok(JSON.stringify(request.body.tools).includes('classify_message'));
    assert.match(request.body.messages[0]!.content, /Cardiology/);
    assert.deepEqual(keys(await chat.say('1')), ['confirm_booking']);
    assert.deepEqual(keys(await chat.say('sounds good')), ['booked']);
    const [appointment] = await Appointment.query(svc.deps.db.knex).where({ patient_id: p.id });
    assert.equal(DateTime.fromJSDate(appointment!.start_time, { zone: 'Europe/Madrid' }).toFormat('yyyy-MM-dd HH:mm'), '2030-03-06 12:00');
  });

  it('a server that hangs past OPENAI_TIMEOUT_MS falls back to the rules within the turn', async () => {
    const { chat } = await patientChat();
    fake.setMode({ kind: 'hang', ms: 5_000 });
    const started = Date.now();
    const replies = await chat.say('I want to book an appointment');
    const elapsed = Date.now() - started;
    assert.deepEqual(keys(replies), ['ask_specialty']);
    assert.ok(elapsed < 3_000, `the turn took ${elapsed} ms`);
  });

  for (const mode of [{ kind: 'error', status: 500 }, { kind: 'garbage' }] as const) {
    it(`a ${mode.kind === 'error' ? '500 answer' : 'garbage tool argument'} falls back to the rules`, async () => {
      const { chat } = await patientChat('es');
      fake.setMode(mode);
      const sent = fake.requests.length;
      assert.deepEqual(keys(await chat.say('quiero una cita con cardiología mañana por la tarde')), ['offer_slots']);
      assert.equal(fake.requests.length, sent + 1, 'the model was asked once, without retries');
    });
  }

  it('an emergency never waits for the model', async () => {
    const { t, chat } = await patientChat();
    fake.setMode({ kind: 'tool', args: { intent: 'greet' } });
    const sent = fake.requests.length;
    assert.deepEqual(keys(await chat.say("I can't breathe")), ['emergency', 'emergency_ticket']);
    assert.equal(fake.requests.length, sent, 'no request to the model');
    assert.equal((await svc.deps.db.knex('tickets').where({ organization_id: t.org.id }).first()).priority, 'urgent');
  });

  it("a clinic question the model recognizes is answered from the clinic's settings, and nothing the model writes reaches the patient", async () => {
    const t = await buildClinic(svc, { address: 'Passeig de Gràcia 10, Barcelona', contact_phone: '+34931234567' });
    const p = await buildPatient(t, { name: 'Ana López', preferred_language: 'en' });
    const chat = new Chat(svc, t.org.id, 'whatsapp', p.phone!);
    fake.setMode({ kind: 'tool', args: { intent: 'clinic_info', language: 'en', info_topics: ['address', 'phone'], name: 'Come to Calle Falsa 123' } });
    const replies = await chat.say('is there parking near you, and how do I ring the front desk?');
    assert.deepEqual(keys(replies), ['clinic_address', 'clinic_phone', 'menu']);
    assert.match(replies[0]!.content, /Passeig de Gràcia 10, Barcelona/);
    assert.match(replies[1]!.content, /\+34 931 23 45 67/);
    assert.ok(!replies.some((r) => /Falsa/.test(r.content)));
    assert.match(fake.requests[fake.requests.length - 1]!.body.messages[0]!.content, /clinic_info/);
  });

  it('ignores a doctor id the clinic does not have', async () => {
    const { t, p, chat } = await patientChat();
    fake.setMode({ kind: 'tool', args: { intent: 'book', doctor_id: 'doc_01HALLUCINATED0000000000', date: '2030-03-06' } });
    const replies = await chat.say('book me with doctor House tomorrow');
    assert.deepEqual(keys(replies), ['ask_specialty']);
    assert.deepEqual(replies[0]!.options!.map((o) => o.label), ['Cardiology', 'Dermatology']);
    assert.equal((await Appointment.query(svc.deps.db.knex).where({ organization_id: t.org.id, patient_id: p.id })).length, 0);
  });
});
