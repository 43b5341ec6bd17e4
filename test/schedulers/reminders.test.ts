import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningService } from '../../main.js';
import { fixedClock, testService } from '../support/service.js';
import { ALL_WEEK_HOURS, buildDoctor, buildPatient, type TestOrg } from '../support/factories.js';
import { FakeTwilio, sendInboundSms } from '../support/fakeTwilio.js';
import { clientOn, smsOrg, startSmsService, stopSmsServices } from '../support/smsService.js';
import { claimDueReminders, recordReminderQueued, reminderDueAt } from '../../models/reminders.js';
import type { ApiClient } from '../support/client.js';

const MADRID = 'Europe/Madrid';
/** Tuesday 25 November 2031, 10:30 in Madrid (UTC+1). */
const START = '2031-11-25T09:30:00.000Z';
const at = (iso: string) => new Date(iso);

interface Setup {
  t: TestOrg & { smsNumber: string };
  svc: RunningService;
  client: ApiClient;
  clock: ReturnType<typeof fixedClock>;
  patient: { id: string; phone: string | null };
  doctor: { id: string };
}

describe('appointment reminders (schedulers/reminders.ts)', () => {
  let fake: FakeTwilio;

  before(async function () {
    this.timeout(60_000);
    await testService();
    fake = await new FakeTwilio().start();
  });
  afterEach(async () => {
    await stopSmsServices();
  });
  after(async () => {
    await fake.stop();
  });

  async function setup(opts: { language?: string; hours?: string[]; settings?: Record<string, unknown>; phone?: boolean } = {}): Promise<Setup> {
    const t = await smsOrg({ timeZone: MADRID, settings: { cancellation_window_hours: 12, ...(opts.settings ?? {}) } });
    const clock = fixedClock(at('2031-11-20T09:00:00Z'));
    const svc = await startSmsService(fake, [t.org.id], { clock, leaseSeconds: 60 });
    const patient = await buildPatient(t, { name: 'Ana López', preferred_language: opts.language ?? 'es', ...(opts.phone === false ? { phone: null } : {}) });
    const doctor = await buildDoctor(t, { name: 'Dr. García', working_hours: ALL_WEEK_HOURS(opts.hours ?? ['08:00-20:00']) });
    return { t, svc, client: await clientOn(svc, t), clock, patient, doctor };
  }

  async function book(s: Setup, start = START): Promise<string> {
    const res = await s.client.post('/api/v1/appointments', { patient_id: s.patient.id, doctor_id: s.doctor.id, start_time: start, duration_minutes: 30 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.data.id;
  }

  const reminders = async (s: Setup, id: string) => (await s.client.get(`/api/v1/appointments/${id}`)).body.data.reminders as { channel: string; time: string; status: string }[];
  const rows = (s: Setup, id: string) => s.svc.deps.db.knex('reminders').where({ appointment_id: id }).orderBy('offset_minutes', 'desc');
  const tick = (s: Setup) => s.svc.schedulers.reminders.tick();

  it('POST /appointments creates reminders at the clinic offsets, shown in GET /appointments/:id', async () => {
    const s = await setup();
    const id = await book(s);
    assert.deepEqual(await reminders(s, id), [
      { channel: 'sms', time: '2031-11-24T09:30:00.000Z', status: 'pending' },
      { channel: 'sms', time: '2031-11-25T07:30:00.000Z', status: 'pending' },
    ]);
    const offsets = (await rows(s, id)).map((r: { offset_minutes: number; id: string }) => [r.offset_minutes, r.id.slice(0, 4)]);
    assert.deepEqual(offsets, [[1440, 'rem_'], [120, 'rem_']]);
  });

  it('a reschedule moves the reminders; a cancellation cancels them (in the same transaction)', async () => {
    const s = await setup({ settings: { reminder_offsets_minutes: [2880, 60] } });
    const id = await book(s);
    const before = await rows(s, id);
    const moved = await s.client.patch(`/api/v1/appointments/${id}`, { start_time: '2031-11-27T15:00:00Z' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual(moved.body.data.reminders.map((r: { time: string }) => r.time), ['2031-11-25T15:00:00.000Z', '2031-11-27T14:00:00.000Z']);
    assert.deepEqual((await rows(s, id)).map((r: { id: string }) => r.id), before.map((r: { id: string }) => r.id), 'pending reminders keep their ids');
    const cancelled = await s.client.post(`/api/v1/appointments/${id}/cancel`, { reason: 'Patient called' });
    assert.equal(cancelled.status, 200);
    assert.deepEqual(cancelled.body.data.reminders.map((r: { status: string }) => r.status), ['cancelled', 'cancelled']);
    assert.deepEqual((await rows(s, id)).map((r: { skip_reason: string }) => r.skip_reason), ['appointment_cancelled', 'appointment_cancelled']);
    s.clock.set(at('2031-11-27T14:30:00Z'));
    assert.equal((await tick(s)).claimed, 0, 'nothing left to send');
  });

  it('does not create a reminder whose time has already passed at booking', async () => {
    const s = await setup();
    s.clock.set(at('2031-11-24T12:00:00Z'));
    const id = await book(s);
    assert.deepEqual((await reminders(s, id)).map((r) => r.time), ['2031-11-25T07:30:00.000Z']);
  });

  it('queues a due reminder once, in the patient language with the local date and time, and kicks the dispatcher', async () => {
    const s = await setup();
    const id = await book(s);
    s.clock.set(at('2031-11-24T09:29:59Z'));
    assert.equal((await tick(s)).claimed, 0, 'not yet due');
    s.clock.set(at('2031-11-24T09:30:00Z'));
    const first = await tick(s);
    const second = await tick(s);
    assert.deepEqual([first.queued, second.claimed], [1, 0]);
    const [sms] = await fake.waitFor(s.patient.phone!);
    assert.equal(sms.body, 'Recordatorio: tu cita con Dr. García es el martes 25 de noviembre a las 10:30. Responde 1 para confirmar, 2 para cambiarla, 3 para cancelarla.');
    await sleep(300);
    assert.equal(fake.to(s.patient.phone!).length, 1, 'sent once');
    const [day] = await rows(s, id);
    assert.equal(day.status, 'sent');
    const message = await s.svc.deps.db.knex('messages').where({ id: day.message_id }).first();
    assert.deepEqual([message.reminder_id, message.metadata.reminder_appointment_id, message.channel], [day.id, id, 'sms']);
    assert.deepEqual((await reminders(s, id)).map((r) => r.status), ['sent', 'pending']);
  });

  it('writes English and Catalan reminders too', async () => {
    const s = await setup({ language: 'en' });
    await book(s);
    s.clock.set(at('2031-11-24T09:30:00Z'));
    await tick(s);
    const [sms] = await fake.waitFor(s.patient.phone!);
    assert.equal(sms.body, 'Reminder: your appointment with Dr. García is on Tuesday 25 November at 10:30. Reply 1 to confirm, 2 to change it, 3 to cancel it.');
    const ca = await setup({ language: 'ca' });
    ca.clock.set(at('2031-04-01T08:00:00Z'));
    await book(ca, '2031-04-15T08:00:00Z');
    ca.clock.set(at('2031-04-14T08:00:00Z'));
    await tick(ca);
    const [cat] = await fake.waitFor(ca.patient.phone!);
    assert.match(cat.body, /^Recordatori: la teva cita amb Dr\. García és el dimarts 15 d'abril a les 10:00\./);
  });

  it('retakes a claim older than the lease (a crashed instance) and the stale claimer records nothing', async () => {
    const s = await setup();
    const id = await book(s);
    s.clock.set(at('2031-11-24T09:30:00Z'));
    const knex = s.svc.deps.db.knex;
    const [stale] = await claimDueReminders(knex, { now: s.clock.now(), limit: 10, leaseSeconds: 60, organizationIds: [s.t.org.id] });
    assert.equal(stale.appointment_id, id);
    assert.equal((await tick(s)).claimed, 0, 'the lease still holds');
    s.clock.advance(61_000);
    const retaken = await tick(s);
    assert.deepEqual([retaken.claimed, retaken.queued], [1, 1]);
    await fake.waitFor(s.patient.phone!);
    const late = await recordReminderQueued(knex, { organizationId: s.t.org.id }, stale, {
      appointmentId: id, patientId: s.patient.id, conversationId: null, channel: 'sms', to: s.patient.phone!, text: 'stale', now: s.clock.now(),
    });
    assert.equal(late, null, 'fenced by the attempt number');
    assert.equal((await knex('messages').where({ reminder_id: stale.id })).length, 1);
    assert.equal((await rows(s, id))[0].attempts, 2);
  });

  it('pushes a reminder out of the quiet hours to 08:00 local, unless the appointment is sooner than that', async () => {
    const s = await setup({ hours: ['06:00-20:00'] });
    const nine = await book(s, '2031-11-26T08:00:00Z'); // 09:00 Madrid: the 2 h reminder (07:00) waits until 08:00
    const early = await book(s, '2031-11-27T06:30:00Z'); // 07:30 Madrid: 08:00 would be too late, so 05:30 it is
    assert.deepEqual((await reminders(s, nine)).map((r) => r.time), ['2031-11-25T08:00:00.000Z', '2031-11-26T07:00:00.000Z']);
    assert.deepEqual((await reminders(s, early)).map((r) => r.time), ['2031-11-26T07:00:00.000Z', '2031-11-27T04:30:00.000Z']);
    assert.equal(reminderDueAt(at('2031-11-26T08:00:00Z'), 120, null, MADRID).toISOString(), '2031-11-26T06:00:00.000Z', 'no quiet hours: exact');
  });

  it('skips the reminder of a cancelled or past appointment, and of a patient without any address', async () => {
    const s = await setup();
    const cancelled = await book(s);
    const past = await book(s, '2031-11-25T11:00:00Z');
    const knex = s.svc.deps.db.knex;
    // Cancelled behind the domain's back (an import, a race with the claim): the job still checks.
    await knex('appointments').where({ id: cancelled }).update({ status: 'cancelled' });
    s.clock.set(at('2031-11-25T11:30:00Z'));
    const result = await tick(s);
    assert.equal(result.queued, 0);
    const reasons = await knex('reminders').whereIn('appointment_id', [cancelled, past]).orderBy(['appointment_id', 'offset_minutes']).select('appointment_id', 'status', 'skip_reason');
    assert.ok(reasons.every((r: { status: string }) => r.status === 'skipped'));
    assert.deepEqual([...new Set(reasons.map((r: { skip_reason: string }) => r.skip_reason))].sort(), ['appointment_cancelled', 'appointment_past']);
    const nobody = await setup({ phone: false });
    await book(nobody);
    nobody.clock.set(at('2031-11-24T09:30:00Z'));
    assert.equal((await tick(nobody)).skipped, 1);
    assert.equal((await nobody.svc.deps.db.knex('reminders').where({ organization_id: nobody.t.org.id, status: 'skipped' }).first()).skip_reason, 'no_address');
    assert.equal(fake.to(s.patient.phone!).length, 0);
  });

  it('sends only the latest due reminder when several fell due while nobody ran the job', async () => {
    const s = await setup();
    const id = await book(s);
    s.clock.set(at('2031-11-25T08:00:00Z'));
    await tick(s);
    await fake.waitFor(s.patient.phone!);
    assert.deepEqual((await rows(s, id)).map((r: { status: string; skip_reason: string | null }) => [r.status, r.skip_reason]), [['skipped', 'superseded'], ['sent', null]]);
  });

  describe('replies by SMS', () => {
    async function remind(s: Setup): Promise<string> {
      const id = await book(s);
      s.clock.set(at('2031-11-24T09:30:00Z'));
      await tick(s);
      await fake.waitFor(s.patient.phone!);
      return id;
    }
    const reply = (s: Setup, body: string) => sendInboundSms(s.svc.url, { from: s.patient.phone!, to: s.t.smsNumber, body });
    const status = async (s: Setup, id: string) => (await s.client.get(`/api/v1/appointments/${id}`)).body.data.status as string;

    it('"1" confirms the appointment', async () => {
      const s = await setup();
      const id = await remind(s);
      assert.equal((await reply(s, '1')).status, 200);
      assert.equal(await status(s, id), 'confirmed');
      const [, answer] = await fake.waitFor(s.patient.phone!, 2);
      assert.match(answer.body, /confirmada/);
    });

    it('"sí" confirms it too, and "3" cancels', async () => {
      const yes = await setup();
      const a = await remind(yes);
      await reply(yes, 'sí');
      assert.equal(await status(yes, a), 'confirmed');
      const s = await setup();
      const id = await remind(s);
      await reply(s, '3');
      assert.equal(await status(s, id), 'cancelled');
      assert.deepEqual((await reminders(s, id)).map((r) => r.status), ['sent', 'cancelled'], 'the 2 h reminder is cancelled with it');
    });

    it('"2" starts a reschedule dialogue and leaves the appointment as it was', async () => {
      const s = await setup();
      const id = await remind(s);
      await reply(s, '2');
      await fake.waitFor(s.patient.phone!, 2);
      const detail = (await s.client.get(`/api/v1/appointments/${id}`)).body.data;
      assert.deepEqual([detail.status, detail.start_time], ['scheduled', START]);
      const conv = await s.svc.deps.db.knex('conversations').where({ organization_id: s.t.org.id, channel: 'sms', channel_address: s.patient.phone }).first();
      assert.equal(conv.dialogue_state.flow, 'reschedule');
    });
  });
});
