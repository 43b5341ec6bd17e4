import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildPatient, buildDoctor, insertConversation } from '../support/factories.js';
import { startExtraService, fixedClock } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { createTicket } from '../../models/tickets.js';
import { analyticsRoutes } from '../../api/routes/analytics.js';
import { NOW, OCTOBER, insertAppointments, get, bucket } from '../support/analyticsData.js';
import type { RunningService } from '../../main.js';

describe('/api/v1/analytics and /api/v1/admin', () => {
  let fixedSvc: RunningService;
  before(async () => {
    fixedSvc = await startExtraService({}, fixedClock(NOW));
  });

  it('GET /analytics/appointments counts by status and gives the no-show and cancellation rates', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const patient = await buildPatient(t);
    const cardio = await buildDoctor(t, { name: 'Dr. Heart', specialization: 'Cardiology' });
    const derma = await buildDoctor(t, { name: 'Dr. Skin', specialization: 'Dermatology' });
    const at = (day: number, hour: number) => `2025-10-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00Z`;
    const p = patient.id;
    await insertAppointments(t, [
      { patientId: p, doctorId: cardio.id, start: at(2, 9), status: 'completed', source: 'whatsapp', createdBy: null },
      { patientId: p, doctorId: cardio.id, start: at(3, 9), status: 'completed', source: 'sms', createdBy: null, type: 'follow_up' },
      { patientId: p, doctorId: cardio.id, start: at(4, 9), status: 'completed' },
      { patientId: p, doctorId: cardio.id, start: at(5, 9), status: 'no_show', type: 'follow_up' },
      { patientId: p, doctorId: derma.id, start: at(6, 9), status: 'cancelled', cancellationReason: 'Patient unavailable', source: 'whatsapp', createdBy: null },
      { patientId: p, doctorId: derma.id, start: at(7, 9), status: 'cancelled', cancellationReason: '  ' },
      { patientId: p, doctorId: derma.id, start: at(28, 9), status: 'scheduled' },
      { patientId: p, doctorId: derma.id, start: at(29, 9), status: 'confirmed', source: 'web', createdBy: null },
    ]);
    const res = await get(t, `/analytics/appointments?${OCTOBER}`);
    assert.equal(res.status, 200);
    const d = res.body.data;
    assert.equal(d.total_appointments, 8);
    assert.deepEqual(d.by_status, [
      { status: 'scheduled', count: 1, percentage: 12.5 }, { status: 'confirmed', count: 1, percentage: 12.5 },
      { status: 'completed', count: 3, percentage: 37.5 }, { status: 'cancelled', count: 2, percentage: 25 },
      { status: 'no_show', count: 1, percentage: 12.5 },
    ]);
    assert.equal(d.no_show_rate, 25, 'one no-show of four appointments whose attendance was recorded');
    assert.equal(d.cancellation_rate, 25);
    assert.equal(d.completion_rate, 37.5);
    assert.deepEqual(d.by_type, [{ type: 'consultation', count: 6, percentage: 75 }, { type: 'follow_up', count: 2, percentage: 25 }]);
    assert.deepEqual(d.by_source, [
      { source: 'api', count: 4, percentage: 50 }, { source: 'whatsapp', count: 2, percentage: 25 },
      { source: 'sms', count: 1, percentage: 12.5 }, { source: 'web', count: 1, percentage: 12.5 },
    ]);
    assert.deepEqual(d.booked_through, { bot: 4, api: 4 });
    assert.deepEqual(d.by_doctor, [
      { doctor_id: cardio.id, doctor_name: 'Dr. Heart', specialization: 'Cardiology', total: 4, scheduled: 0, confirmed: 0, completed: 3, cancelled: 0, no_show: 1 },
      { doctor_id: derma.id, doctor_name: 'Dr. Skin', specialization: 'Dermatology', total: 4, scheduled: 1, confirmed: 1, completed: 0, cancelled: 2, no_show: 0 },
    ]);
    assert.deepEqual(d.by_specialization, [{ specialization: 'Cardiology', count: 4, percentage: 50 }, { specialization: 'Dermatology', count: 4, percentage: 50 }]);
    assert.deepEqual(d.cancellation_reasons, [{ reason: 'Not given', count: 1, percentage: 50 }, { reason: 'Patient unavailable', count: 1, percentage: 50 }]);
    assert.deepEqual(bucket(d.by_interval, '2025-10-05'), { interval: '2025-10-05', total: 1, scheduled: 0, confirmed: 0, completed: 0, cancelled: 0, no_show: 1 });
    assert.equal(d.by_interval.reduce((n: number, b: { total: number }) => n + b.total, 0), 8);
  });

  it('GET /analytics/appointments buckets by the organization\'s local day across daylight-saving changes and leaves out records just outside the range', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const patient = await buildPatient(t);
    const doctor = await buildDoctor(t);
    // Completed: the overlap constraint holds only for scheduled and confirmed appointments.
    const a = (start: string) => ({ patientId: patient.id, doctorId: doctor.id, start, status: 'completed' });
    await insertAppointments(t, [
      a('2025-09-30T21:59:00Z'), // 23:59 on 30 September in Madrid: outside
      a('2025-09-30T22:00:00Z'), // 00:00 on 1 October: the first instant of the range
      a('2025-10-25T22:30:00Z'), // 00:30 (CEST) on 26 October, the change day
      a('2025-10-26T22:30:00Z'), // 23:30 (CET) on 26 October: 00:30 on the 27th with the morning's offset
      a('2025-10-31T22:59:00Z'), // 23:59 on 31 October: inside
      a('2025-10-31T23:00:00Z'), // 00:00 on 1 November: outside
      a('2025-03-29T22:30:00Z'), // 23:30 (CET) on 29 March
      a('2025-03-29T23:30:00Z'), // 00:30 (CET) on 30 March, the day summer time starts
      a('2025-03-30T21:30:00Z'), // 23:30 (CEST) on 30 March
    ]);
    const days = await get(t, `/analytics/appointments?${OCTOBER}&interval=day`);
    assert.equal(days.status, 200);
    const d = days.body.data;
    assert.deepEqual(d.period, {
      start: '2025-10-01', end: '2025-10-31', start_time: '2025-09-30T22:00:00.000Z', end_time: '2025-10-31T23:00:00.000Z',
      time_zone: 'Europe/Madrid', interval: 'day',
    });
    assert.equal(d.total_appointments, 4);
    assert.equal(d.by_interval.length, 31);
    const nonEmpty = d.by_interval.filter((b: { total: number }) => b.total > 0).map((b: { interval: string; total: number }) => [b.interval, b.total]);
    assert.deepEqual(nonEmpty, [['2025-10-01', 1], ['2025-10-26', 2], ['2025-10-31', 1]]);

    const weeks = (await get(t, `/analytics/appointments?${OCTOBER}&group_by=week`)).body.data;
    assert.equal(weeks.period.interval, 'week');
    assert.deepEqual(weeks.by_interval.map((b: { interval: string; total: number }) => [b.interval, b.total]), [
      ['2025-09-29', 1], ['2025-10-06', 0], ['2025-10-13', 0], ['2025-10-20', 2], ['2025-10-27', 1],
    ]);
    const months = (await get(t, '/analytics/appointments?start_date=2025-03-01&end_date=2025-10-31&interval=month')).body.data;
    assert.deepEqual(months.by_interval.map((b: { interval: string; total: number }) => [b.interval, b.total]), [
      ['2025-03-01', 3], ['2025-04-01', 0], ['2025-05-01', 0], ['2025-06-01', 0], ['2025-07-01', 0], ['2025-08-01', 0], ['2025-09-01', 1], ['2025-10-01', 4],
    ]);

    const spring = (await get(t, '/analytics/appointments?start_date=2025-03-29&end_date=2025-03-30')).body.data;
    assert.equal(spring.period.start_time, '2025-03-28T23:00:00.000Z');
    assert.equal(spring.period.end_time, '2025-03-30T22:00:00.000Z', 'the 30th has 23 hours');
    assert.deepEqual(spring.by_interval.map((b: { interval: string; total: number }) => [b.interval, b.total]), [['2025-03-29', 1], ['2025-03-30', 2]]);

    const instants = (await get(t, '/analytics/appointments?start_date=2025-10-25T22:30:00Z&end_date=2025-10-26T22:30:00Z')).body.data;
    assert.equal(instants.total_appointments, 2, 'date-time bounds are instants, both inclusive');
  });

  it('GET /analytics/conversations counts by channel, language, status, hour, intent and sentiment with the handoff rate', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const knex = t.svc.deps.db.knex;
    const conv = async (startedAt: string, input: { channel: string; language: string | null; status?: 'bot' | 'handoff' | 'closed'; messages: number; intent?: string; sentiment?: string; escalated?: boolean }) => {
      const c = await insertConversation(t, {
        startedAt: new Date(startedAt), channel: input.channel, language: input.language, status: input.status,
        messages: Array.from({ length: input.messages }, (_, i) => `m${i}`),
      });
      await knex('conversations').where({ id: c.id }).update({ intent: input.intent ?? null, sentiment: input.sentiment ?? null, escalated: input.escalated ?? false });
    };
    await conv('2025-10-05T08:15:00Z', { channel: 'sms', language: 'es', messages: 3, intent: 'book', sentiment: 'positive' });
    await conv('2025-10-05T09:00:00Z', { channel: 'whatsapp', language: 'en', status: 'handoff', messages: 5, intent: 'handoff', sentiment: 'negative', escalated: true });
    await conv('2025-10-26T22:30:00Z', { channel: 'webchat', language: null, status: 'closed', messages: 1, intent: 'book' });
    await conv('2025-10-10T10:00:00Z', { channel: 'sms', language: 'es', status: 'closed', messages: 3, intent: 'cancel', sentiment: 'neutral', escalated: true });
    await conv('2025-09-30T21:59:00Z', { channel: 'sms', language: 'es', messages: 9 }); // 23:59 on 30 September: outside
    await conv('2025-10-31T23:00:00Z', { channel: 'sms', language: 'es', messages: 9 }); // 00:00 on 1 November: outside
    const deleted = await insertConversation(t, { startedAt: new Date('2025-10-12T10:00:00Z'), channel: 'sms' });
    await knex('conversations').where({ id: deleted.id }).update({ deleted_at: new Date() });

    const res = await get(t, `/analytics/conversations?${OCTOBER}`);
    assert.equal(res.status, 200);
    const d = res.body.data;
    assert.equal(d.total_conversations, 4);
    assert.equal(d.average_length, 3);
    assert.equal(d.escalated_conversations, 2);
    assert.equal(d.handoff_rate, 50);
    assert.deepEqual(d.by_channel, [
      { channel: 'sms', count: 2, percentage: 50 }, { channel: 'webchat', count: 1, percentage: 25 }, { channel: 'whatsapp', count: 1, percentage: 25 },
    ]);
    assert.deepEqual(d.by_language, [
      { language: 'es', count: 2, percentage: 50 }, { language: 'en', count: 1, percentage: 25 }, { language: 'unknown', count: 1, percentage: 25 },
    ]);
    assert.deepEqual(d.by_status, [
      { status: 'closed', count: 2, percentage: 50 }, { status: 'bot', count: 1, percentage: 25 }, { status: 'handoff', count: 1, percentage: 25 },
    ]);
    assert.deepEqual(d.top_intents, [
      { intent: 'book', count: 2, percentage: 50 }, { intent: 'cancel', count: 1, percentage: 25 }, { intent: 'handoff', count: 1, percentage: 25 },
    ]);
    assert.deepEqual(d.by_sentiment.map((s: { sentiment: string }) => s.sentiment), ['negative', 'neutral', 'positive', 'unknown']);
    assert.equal(d.by_hour.length, 24);
    assert.deepEqual(d.by_hour.filter((h: { count: number }) => h.count > 0), [
      { hour: 10, count: 1 }, { hour: 11, count: 1 }, { hour: 12, count: 1 }, { hour: 23, count: 1 },
    ], 'local hours: 10:15 and 11:00 CEST, 12:00 CEST, 23:30 CET');
    assert.deepEqual(bucket(d.by_interval, '2025-10-05'), { interval: '2025-10-05', count: 2, average_length: 4 });
    assert.deepEqual(bucket(d.by_interval, '2025-10-26'), { interval: '2025-10-26', count: 1, average_length: 1 });
    assert.deepEqual(bucket(d.by_interval, '2025-10-27'), { interval: '2025-10-27', count: 0, average_length: 0 });

    const spanish = (await get(t, `/analytics/conversations?${OCTOBER}&language=es`)).body.data;
    assert.equal(spanish.total_conversations, 2);
    assert.deepEqual(spanish.by_language, [{ language: 'es', count: 2, percentage: 100 }]);
  });

  it('GET /analytics/patients counts total, new, active and opted-out patients by language, with engagement', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const knex = t.svc.deps.db.knex;
    const patient = async (createdAt: string, language: string) => {
      const p = await buildPatient(t, { preferred_language: language });
      await knex('patients').where({ id: p.id }).update({ created_at: new Date(createdAt) });
      return p;
    };
    const regular = await patient('2025-09-15T10:00:00Z', 'es');
    const quiet = await patient('2025-09-01T10:00:00Z', 'ca');
    const newcomer = await patient('2025-10-02T10:00:00Z', 'en');
    const lateNight = await patient('2025-10-26T22:30:00Z', 'es'); // 23:30 on 26 October in Madrid
    const later = await patient('2025-11-05T10:00:00Z', 'en');
    const gone = await patient('2025-10-03T10:00:00Z', 'es');
    await knex('patients').where({ id: lateNight.id }).update({ opted_out_at: new Date('2025-10-27T08:00:00Z') });
    await knex('patients').where({ id: gone.id }).update({ deleted_at: new Date() });
    const doctor = await buildDoctor(t);
    // Interactions in October: regular 10 messages, newcomer 2 messages and an appointment, lateNight 1 message.
    await insertConversation(t, { startedAt: new Date('2025-10-07T10:00:00Z'), patient: regular, messages: Array.from({ length: 10 }, (_, i) => `m${i}`) });
    await insertConversation(t, { startedAt: new Date('2025-10-08T10:00:00Z'), patient: newcomer, messages: ['a', 'b', { content: 'reply', sender: 'assistant' }] });
    await insertAppointments(t, [{ patientId: newcomer.id, doctorId: doctor.id, start: '2025-10-20T10:00:00Z' }]);
    await insertConversation(t, { startedAt: new Date('2025-10-27T10:00:00Z'), patient: lateNight, messages: ['hola'] });
    await insertConversation(t, { startedAt: new Date('2025-11-02T10:00:00Z'), patient: quiet, messages: ['after the range'] });
    await insertConversation(t, { startedAt: new Date('2025-10-09T10:00:00Z'), patient: later, messages: ['x'] });

    const res = await get(t, `/analytics/patients?${OCTOBER}`);
    assert.equal(res.status, 200);
    const d = res.body.data;
    assert.equal(d.total_patients, 4, 'registered before the end of the range, deleted ones left out');
    assert.equal(d.new_patients, 2);
    assert.equal(d.active_patients, 3);
    assert.equal(d.opted_out_patients, 1);
    assert.deepEqual(d.by_language, [
      { language: 'es', count: 2, percentage: 50 }, { language: 'ca', count: 1, percentage: 25 }, { language: 'en', count: 1, percentage: 25 },
    ]);
    assert.deepEqual(d.by_status, [{ status: 'active', count: 4, percentage: 100 }]);
    assert.deepEqual(d.engagement, { highly_engaged: 1, moderately_engaged: 1, low_engagement: 1, inactive: 1 });
    assert.equal(d.new_patients_by_interval.length, 31);
    assert.deepEqual(d.new_patients_by_interval.filter((b: { count: number }) => b.count > 0), [
      { interval: '2025-10-02', count: 1 }, { interval: '2025-10-26', count: 1 },
    ]);
  });

  it('without dates an analytics range is the last 30 days, today included, in the organization\'s time zone', async () => {
    const t = await createTestOrg({ svc: fixedSvc, timeZone: 'America/New_York' }); // 08:00 EDT on 26 October
    const patient = await buildPatient(t);
    const doctor = await buildDoctor(t);
    const a = (start: string) => ({ patientId: patient.id, doctorId: doctor.id, start, status: 'completed' });
    await insertAppointments(t, [a('2025-09-27T03:59:00Z'), a('2025-09-27T04:00:00Z'), a('2025-10-27T03:30:00Z'), a('2025-10-27T04:00:00Z')]);
    const res = await t.admin.client.get('/api/v1/analytics/appointments');
    assert.equal(res.status, 200);
    const d = res.body.data;
    assert.deepEqual(d.period, {
      start: '2025-09-27', end: '2025-10-26', start_time: '2025-09-27T04:00:00.000Z', end_time: '2025-10-27T04:00:00.000Z',
      time_zone: 'America/New_York', interval: 'day',
    });
    assert.equal(d.total_appointments, 2);
    assert.equal(d.by_interval.length, 30);
    assert.deepEqual([d.by_interval[0].total, d.by_interval[29].total], [1, 1]);
    const onlyEnd = (await t.admin.client.get('/api/v1/analytics/appointments?end_date=2025-10-26')).body.data.period;
    assert.equal(onlyEnd.start, '2025-09-27', 'thirty days ending on end_date');
  });

  it('analytics answer 400 naming the field for bad dates, a reversed or too long range and an unknown interval', async () => {
    const t = await createTestOrg({ svc: fixedSvc, timeZone: 'Europe/Madrid' });
    const field = async (query: string, path = '/analytics/appointments') => {
      const res = await t.admin.client.get(`/api/v1${path}?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, 'VALIDATION_ERROR');
      return res.body.error.details.fields.map((f: { field: string }) => f.field).join(',');
    };
    assert.equal(await field('start_date=yesterday'), 'start_date');
    assert.equal(await field('start_date=2025-10-01&end_date=2025-02-30'), 'end_date');
    assert.equal(await field('start_date=2025-10-10&end_date=2025-10-09'), 'end_date');
    assert.equal(await field('start_date=2024-01-01&end_date=2025-01-01'), 'end_date', '367 days');
    assert.equal(await field('start_date=2024-01-01'), 'start_date', 'to today, more than 366 days');
    assert.equal(await field('start_date=2025-10-27'), 'start_date', 'after today');
    assert.equal(await field('interval=hour'), 'interval');
    assert.equal(await field('group_by=year', '/analytics/patients'), 'interval');
    assert.equal(await field('language=xx', '/analytics/conversations'), 'language');
    assert.equal(await field('end_date=2025-10-01&start_date=2025-10-02', '/admin/analytics'), 'end_date');
    const leapYear = await t.admin.client.get('/api/v1/analytics/conversations?start_date=2024-01-01&end_date=2024-12-31');
    assert.equal(leapYear.status, 200, 'exactly 366 days');
    assert.equal(leapYear.body.data.by_interval.length, 366);
  });

  it('analytics and the dashboard need analytics.view: 403 naming it for a provider, 200 for staff, 401 without a token', async () => {
    const t = await createTestOrg();
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    for (const path of ['/analytics/conversations', '/analytics/appointments', '/analytics/patients', '/admin/dashboard', '/admin/analytics']) {
      const denied = await provider.client.get(`/api/v1${path}`);
      assert.equal(denied.status, 403, path);
      assert.equal(denied.body.error.details.required_permission, 'analytics.view');
      assert.equal((await staff.client.get(`/api/v1${path}`)).status, 200, path);
      assert.equal((await new ApiClient(t.svc.url).get(`/api/v1${path}`)).status, 401, path);
    }
    for (const r of analyticsRoutes) {
      assert.equal(r.permission, 'analytics.view', r.path);
      assert.equal(r.rateLimit, 'admin', r.path);
    }
  });

  it('another organization\'s records are never counted', async () => {
    const mine = await createTestOrg({ svc: fixedSvc, timeZone: 'Europe/Madrid' });
    const theirs = await createTestOrg({ svc: fixedSvc, timeZone: 'Europe/Madrid' });
    for (const [t, n] of [[mine, 1], [theirs, 3]] as const) {
      const doctor = await buildDoctor(t);
      for (let i = 0; i < n; i++) {
        const patient = await buildPatient(t);
        await t.svc.deps.db.knex('patients').where({ id: patient.id }).update({ created_at: new Date('2025-10-02T10:00:00Z') });
        await insertAppointments(t, [{ patientId: patient.id, doctorId: doctor.id, start: `2025-10-26T1${3 + i}:00:00Z`, status: 'scheduled', createdAt: '2025-10-26T09:00:00Z' }]);
        await insertConversation(t, { startedAt: new Date(`2025-10-26T0${i}:00:00Z`), patient, status: 'handoff', messages: ['x', { content: 'y', sender: 'assistant', status: 'failed' }] });
        await createTicket(t.svc.deps.db.knex, { organizationId: t.org.id }, { category: 'general', priority: 'urgent', title: 'x', source: 'api' });
      }
    }
    const c = mine.admin.client;
    assert.equal((await c.get(`/api/v1/analytics/appointments?${OCTOBER}`)).body.data.total_appointments, 1);
    assert.equal((await c.get(`/api/v1/analytics/conversations?${OCTOBER}`)).body.data.total_conversations, 1);
    const patients = (await c.get(`/api/v1/analytics/patients?${OCTOBER}`)).body.data;
    assert.deepEqual([patients.total_patients, patients.new_patients, patients.active_patients], [1, 1, 1]);
    const dash = (await c.get('/api/v1/admin/dashboard')).body.data;
    assert.deepEqual(
      [dash.today.appointments.total, dash.today.appointments_booked, dash.upcoming_appointments.count, dash.today.messages.received, dash.today.messages.failed,
        dash.today.new_conversations, dash.conversations.waiting_for_staff, dash.tickets.urgent],
      [1, 1, 1, 1, 1, 1, 1, 1],
    );
    const admin = (await c.get(`/api/v1/admin/analytics?${OCTOBER}`)).body.data;
    assert.deepEqual([admin.appointments.total_booked, admin.conversations.total, admin.patients.total, admin.messages.received], [1, 1, 1, 1]);
  });
});
