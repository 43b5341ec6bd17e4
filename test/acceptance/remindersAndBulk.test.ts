import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixedClock, testService } from '../support/service.js';
import { ALL_WEEK_HOURS, buildDoctor, buildPatient } from '../support/factories.js';
import { FakeTwilio, sendInboundSms } from '../support/fakeTwilio.js';
import { clientOn, smsOrg, startSmsService, stopSmsServices } from '../support/smsService.js';

/**
 * The reminders issue's "Done when", end to end against a fake Twilio: a
 * booking by API, the 24 h reminder once at the right local time in the
 * patient's language, "1" by SMS confirming, and a templated bulk message to
 * 2,000 patients reaching `completed` with exact counts, one STOP skipped.
 */
describe('acceptance: reminders and bulk SMS against a fake Twilio', function () {
  this.timeout(120_000);
  let fake: FakeTwilio;

  before(async () => {
    await testService();
    fake = await new FakeTwilio().start();
  });
  after(async () => {
    await stopSmsServices();
    await fake.stop();
  });

  it('books by API, reminds once at 24 h in Spanish local time, "1" confirms; a 2,000-patient templated batch completes with one STOP skipped', async () => {
    const t = await smsOrg({ timeZone: 'Europe/Madrid' });
    // Monday 1 December 2031, 09:00 UTC = 10:00 in Madrid.
    const clock = fixedClock(new Date('2031-11-28T09:00:00Z'));
    const svc = await startSmsService(fake, [t.org.id], { clock, env: { SMS_RATE_PER_SECOND: '5000' } });
    const api = await clientOn(svc, t);
    const patient = await buildPatient(t, { name: 'Lucía Martín', preferred_language: 'es' });
    const doctor = await buildDoctor(t, { name: 'Dra. Vidal', working_hours: ALL_WEEK_HOURS(['08:00-20:00']) });

    const booked = await api.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: '2031-12-01T09:00:00Z', duration_minutes: 30 });
    assert.equal(booked.status, 201);
    const aptId = booked.body.data.id as string;

    // Not due yet: nothing is sent.
    await svc.schedulers.reminders.tick();
    assert.equal(fake.to(patient.phone!).length, 0);
    // 24 h before, the job runs twice: one message, in Spanish, with Madrid's local time.
    clock.set(new Date('2031-11-30T09:00:00Z'));
    await svc.schedulers.reminders.tick();
    await svc.schedulers.reminders.tick();
    const [reminder] = await fake.waitFor(patient.phone!, 1);
    await sleep(300);
    assert.equal(fake.to(patient.phone!).length, 1, 'sent once');
    assert.match(reminder.body, /Recordatorio/);
    assert.match(reminder.body, /10:00/, 'local time in Madrid, not 09:00 UTC');
    assert.match(reminder.body, /Dra\. Vidal/);

    const reply = await sendInboundSms(svc.url, { from: patient.phone!, to: t.smsNumber, body: '1' });
    assert.equal(reply.status, 200);
    assert.equal((await api.get(`/api/v1/appointments/${aptId}`)).body.data.status, 'confirmed');

    // 2,000 patients (set-wise), one of whom texts STOP first.
    const knex = svc.deps.db.knex;
    await knex.raw(`
      INSERT INTO patients (id, organization_id, name, phone, preferred_language, status, metadata)
      SELECT 'pat_acc' || ? || lpad(g::text, 5, '0'), ?, 'Paciente ' || g, '+3471' || lpad((? * 10000 + g)::text, 7, '0'),
             CASE WHEN g % 2 = 0 THEN 'es' ELSE 'en' END, 'active', '{}'
      FROM generate_series(1, 1999) g`, [t.org.id.slice(-6), t.org.id, Math.floor(Math.random() * 900) + 10]);
    const stopper = await knex('patients').where({ organization_id: t.org.id }).whereLike('id', 'pat_acc%').orderBy('id').first();
    const stop = await sendInboundSms(svc.url, { from: stopper.phone, to: t.smsNumber, body: 'STOP' });
    assert.equal(stop.status, 200);
    const template = await api.post('/api/v1/templates', { name: 'Closure', bodies: { es: 'Hola {{name}}, la clínica cierra el viernes.', en: 'Hello {{name}}, the clinic is closed on Friday.' } });
    assert.equal(template.status, 201);
    const bulk = await api.post('/api/v1/communications/send-bulk', { filter: { status: 'active' }, channel: 'sms', template_id: template.body.data.id });
    assert.equal(bulk.status, 202);
    assert.equal(bulk.body.data.total, 2000);
    assert.equal(bulk.body.data.skipped, 1);

    let batch = bulk.body.data;
    for (let i = 0; i < 600 && batch.status !== 'completed'; i++) {
      await sleep(100);
      batch = (await api.get(`/api/v1/communications/batches/${batch.id}`)).body.data;
    }
    assert.equal(batch.status, 'completed');
    assert.deepEqual(
      { total: batch.total, sent: batch.sent + batch.delivered, skipped: batch.skipped, failed: batch.failed, queued: batch.queued },
      { total: 2000, sent: 1999, skipped: 1, failed: 0, queued: 0 },
    );
    assert.equal(fake.to(stopper.phone).filter((m) => /clínica|clinic/.test(m.body)).length, 0, 'the opted-out patient got nothing');
    const spanish = await knex('patients').where({ organization_id: t.org.id, preferred_language: 'es' }).whereNot({ id: stopper.id }).whereLike('id', 'pat_acc%').first();
    const [got] = fake.to(spanish.phone);
    assert.equal(got.body, `Hola ${spanish.name}, la clínica cierra el viernes.`);
  });
});
