import assert from 'node:assert/strict';
import { createTestOrg, buildPatient, buildDoctor, insertCall, insertConversation } from '../support/factories.js';
import { startExtraService, fixedClock } from '../support/service.js';
import { createTicket } from '../../models/tickets.js';
import { NOW, OCTOBER, insertAppointments, get } from '../support/analyticsData.js';
import type { RunningService } from '../../main.js';

describe('/api/v1/admin/dashboard and /api/v1/admin/analytics', () => {
  let fixedSvc: RunningService;
  before(async () => {
    fixedSvc = await startExtraService({}, fixedClock(NOW));
  });

  it('GET /admin/dashboard gives today\'s figures in the organization\'s time zone', async () => {
    const t = await createTestOrg({ svc: fixedSvc, timeZone: 'Europe/Madrid' });
    const knex = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const patient = await buildPatient(t);
    const doctor = await buildDoctor(t);
    const a = (start: string, status: string, createdAt?: string) => ({ patientId: patient.id, doctorId: doctor.id, start, status, createdAt });
    await insertAppointments(t, [
      a('2025-10-25T21:30:00Z', 'completed'), // 23:30 yesterday (local)
      a('2025-10-25T22:30:00Z', 'completed'), // 00:30 today
      a('2025-10-26T09:00:00Z', 'cancelled'),
      a('2025-10-26T22:30:00Z', 'scheduled', '2025-10-26T08:00:00Z'), // 23:30 today (CET), booked this morning
      a('2025-10-26T23:00:00Z', 'confirmed', '2025-10-20T10:00:00Z'), // 00:00 tomorrow
      a('2025-10-28T10:00:00Z', 'cancelled', '2025-10-26T11:00:00Z'), // booked today, cancelled since
      a('2025-11-01T10:00:00Z', 'scheduled', '2025-10-25T21:00:00Z'), // booked 23:00 yesterday
      a('2025-11-03T10:00:00Z', 'scheduled'), // more than 7 days ahead
    ]);
    const today = await insertConversation(t, {
      startedAt: new Date('2025-10-26T10:00:00Z'), status: 'handoff',
      messages: ['hola', 'ayuda', { content: 'a', sender: 'assistant', status: 'sent' }, { content: 'b', sender: 'assistant', status: 'delivered' },
        { content: 'c', sender: 'assistant', status: 'read' }, { content: 'd', sender: 'staff', status: 'failed' }],
    });
    await insertConversation(t, { startedAt: new Date('2025-10-25T21:50:00Z'), messages: [{ content: 'yesterday', sender: 'assistant', status: 'sent' }] });
    await insertConversation(t, { startedAt: new Date('2025-10-26T11:00:00Z'), status: 'closed' });
    const held = await insertConversation(t, { startedAt: new Date('2025-10-20T10:00:00Z'), status: 'handoff' });
    await knex('conversations').where({ id: held.id }).update({ assignee_user_id: t.admin.user.id });
    await knex('patients').where({ organization_id: t.org.id }).update({ created_at: new Date('2025-10-01T10:00:00Z') });
    const newPatients = await Promise.all(['2025-10-25T21:50:00Z', '2025-10-25T22:10:00Z', '2025-10-26T22:50:00Z'].map(async (at) => {
      const p = await buildPatient(t);
      await knex('patients').where({ id: p.id }).update({ created_at: new Date(at) });
      return p;
    }));
    assert.equal(newPatients.length, 3);
    const ticket = (priority: 'low' | 'medium' | 'high' | 'urgent') => createTicket(knex, scope, { category: 'general', priority, title: priority, source: 'api' });
    await ticket('urgent');
    await ticket('medium');
    await knex('tickets').where({ id: (await ticket('high')).id }).update({ status: 'in_progress' });
    await knex('tickets').where({ id: (await ticket('low')).id }).update({ status: 'resolved' });
    await knex('tickets').where({ id: (await ticket('urgent')).id }).update({ status: 'closed' });
    assert.ok(today.id);
    await insertCall(t, { status: 'completed', startedAt: '2025-10-25T21:50:00Z', durationSeconds: 300 }); // 23:50 yesterday (local, CEST)
    await insertCall(t, { status: 'completed', startedAt: '2025-10-25T22:10:00Z', durationSeconds: 120 }); // 00:10 today
    await insertCall(t, { status: 'busy', startedAt: '2025-10-26T09:00:00Z' });
    await insertCall(t, { status: 'no-answer', startedAt: '2025-10-26T10:00:00Z' });
    await insertCall(t, { status: 'in-progress', startedAt: '2025-10-26T11:00:00Z' });

    const res = await t.admin.client.get('/api/v1/admin/dashboard');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, {
      date: '2025-10-26', time_zone: 'Europe/Madrid', generated_at: NOW.toISOString(),
      today: {
        appointments: { total: 3, scheduled: 1, confirmed: 0, completed: 1, cancelled: 1, no_show: 0 },
        appointments_booked: 2,
        messages: { received: 3, sent: 3, failed: 1, pending: 0 },
        new_conversations: 2,
        new_patients: 2,
        calls: { total: 4, completed: 1, failed: 2, average_duration_seconds: 120 },
      },
      upcoming_appointments: { days: 7, count: 3 },
      conversations: { open: 3, with_bot: 1, waiting_for_staff: 2, unassigned_handoffs: 1 },
      tickets: { open: 3, in_progress: 1, urgent: 1, by_priority: { low: 0, medium: 1, high: 1, urgent: 1 } },
    });
  });

  it('GET /admin/analytics gives VAANI\'s period sections, or the one `metric` names', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const patient = await buildPatient(t, { preferred_language: 'hi' });
    await t.svc.deps.db.knex('patients').where({ id: patient.id }).update({ created_at: new Date('2025-10-03T10:00:00Z') });
    const doctor = await buildDoctor(t);
    const a = (start: string, status: string, createdBy?: null) => ({ patientId: patient.id, doctorId: doctor.id, start, status, createdBy });
    await insertAppointments(t, [
      a('2025-10-05T10:00:00Z', 'completed', null), a('2025-10-06T10:00:00Z', 'completed'), a('2025-10-07T10:00:00Z', 'completed'),
      a('2025-10-08T10:00:00Z', 'no_show'), a('2025-10-09T10:00:00Z', 'cancelled', null), a('2025-11-09T10:00:00Z', 'cancelled'),
    ]);
    await insertConversation(t, { startedAt: new Date('2025-10-04T10:00:00Z'), patient, language: 'hi', messages: ['a', { content: 'b', sender: 'assistant', status: 'failed' }] });
    await insertConversation(t, { startedAt: new Date('2025-10-05T10:00:00Z'), patient: null, language: 'en', status: 'closed', messages: ['a', 'b', 'c', 'd'] });
    await insertCall(t, { status: 'completed', startedAt: '2025-10-02T10:00:00Z', durationSeconds: 100 });
    await insertCall(t, { status: 'completed', startedAt: '2025-10-30T10:00:00Z', durationSeconds: 150 });
    await insertCall(t, { status: 'busy', startedAt: '2025-10-12T10:00:00Z' });
    await insertCall(t, { status: 'completed', startedAt: '2025-11-02T10:00:00Z', durationSeconds: 999 }); // after the period

    const res = await get(t, `/admin/analytics?${OCTOBER}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, {
      period: { start: '2025-10-01', end: '2025-10-31', start_time: '2025-09-30T22:00:00.000Z', end_time: '2025-10-31T23:00:00.000Z', time_zone: 'Europe/Madrid' },
      appointments: {
        total_booked: 5, scheduled: 0, confirmed: 0, completed: 3, cancelled: 1, no_show: 1, no_show_rate: 25, cancellation_rate: 20, booked_through_bot: 2,
      },
      conversations: { total: 2, escalated: 0, handoff_rate: 0, average_messages: 3 },
      languages: { en: 1, hi: 1 },
      patients: { total: 1, new: 1, active: 1, opted_out: 0 },
      messages: { received: 5, sent: 0, failed: 1, pending: 0 },
      calls: { total: 3, completed: 2, failed: 1, average_duration_seconds: 125 },
    });
    const only = await get(t, `/admin/analytics?${OCTOBER}&metric=appointments`);
    assert.deepEqual(Object.keys(only.body.data).sort(), ['appointments', 'period']);
    assert.equal(only.body.data.appointments.total_booked, 5);
    const calls = await get(t, `/admin/analytics?${OCTOBER}&metric=calls`);
    assert.deepEqual(Object.keys(calls.body.data).sort(), ['calls', 'period']);
    const latency = await get(t, '/admin/analytics?metric=latency');
    assert.equal(latency.status, 400);
    assert.deepEqual(latency.body.error.details.fields.map((f: { field: string }) => f.field), ['metric']);
  });
});
