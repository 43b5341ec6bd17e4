import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildDoctor, buildPatient, type TestOrg } from '../support/factories.js';
import { ApiClient } from '../support/client.js';
import { startExtraService, fixedClock } from '../support/service.js';
import { bookAppointment, cancelAppointment, rescheduleAppointment, listUpcomingAppointments } from '../../models/appointments.js';

/** An instant `days` from today at HH:MM UTC (organizations here are UTC; doctors work 08:00-20:00 every day). */
const at = (days: number, hhmm: string) => `${new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)}T${hhmm}:00.000Z`;
const dateAhead = (days: number) => at(days, '00:00').slice(0, 10);

async function setup(t?: TestOrg) {
  const org = t ?? (await createTestOrg());
  return { t: org, doctor: await buildDoctor(org), patient: await buildPatient(org) };
}

async function eventsOf(t: TestOrg, subjectId: string): Promise<string[]> {
  const rows = await t.svc.deps.db.knex('events').where({ organization_id: t.org.id, subject_id: subjectId }).orderBy('id').select('event');
  return rows.map((r: { event: string }) => r.event);
}

describe('/api/v1/appointments', () => {
  it('POST /appointments books (201) with the detail shape, accepting scheduled_time, provider_id and duration aliases', async () => {
    const { t, doctor, patient } = await setup();
    const res = await t.admin.client.post('/api/v1/appointments', {
      patient_id: patient.id, provider_id: doctor.id, scheduled_time: at(2, '10:00'), duration: 45, reason: 'Annual checkup', type: 'follow_up',
    });
    assert.equal(res.status, 201);
    const a = res.body.data;
    assert.match(a.id, /^apt_/);
    assert.equal(a.start_time, at(2, '10:00'));
    assert.equal(a.end_time, at(2, '10:45'));
    assert.equal(a.duration_minutes, 45);
    assert.equal(a.status, 'scheduled');
    assert.equal(a.type, 'follow_up');
    assert.equal(a.location, 'Room 1', 'defaults to the doctor\'s location');
    assert.equal(a.source, 'api');
    assert.deepEqual(a.patient, { id: patient.id, name: patient.name, phone: patient.phone, preferred_language: 'es' });
    assert.deepEqual(a.doctor, { id: doctor.id, name: doctor.name, specialization: 'General Practice' });
    // The clinic's default offsets (24 h and 2 h before), on SMS: the patient has a phone and no conversation yet.
    assert.deepEqual(a.reminders.map((r: { channel: string; status: string }) => [r.channel, r.status]), [['sms', 'pending'], ['sms', 'pending']]);
    assert.equal(a.created_by, t.admin.user.id);
    assert.deepEqual(await eventsOf(t, a.id), ['appointment.created']);
    const fetched = await t.admin.client.get(`/api/v1/appointments/${a.id}`);
    assert.deepEqual(fetched.body.data, a);
  });

  it('POST /appointments returns 400 naming bad fields, and a past start_time', async () => {
    const { t, doctor, patient } = await setup();
    const res = await t.admin.client.post('/api/v1/appointments', { doctor_id: doctor.id, start_time: 'tomorrow', duration_minutes: 20 });
    assert.equal(res.status, 400);
    const fields = res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(fields, ['duration_minutes', 'patient_id', 'start_time']);
    const past = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(-1, '10:00') });
    assert.equal(past.status, 400);
    assert.deepEqual(past.body.error.details.fields, [{ field: 'start_time', message: 'must be in the future' }]);
  });

  it('POST /appointments returns 422 outside the doctor\'s working hours, with a clear message', async () => {
    const { t, doctor, patient } = await setup();
    const res = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '19:45') });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.details.field, 'start_time');
    assert.equal(res.body.error.details.reason, 'outside_working_hours');
    assert.match(res.body.error.message, /19:45-20:15 .* outside the doctor's working hours .*08:00-20:00/);
    const early = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '07:30') });
    assert.equal(early.status, 422);
    const lastSlot = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '19:30') });
    assert.equal(lastSlot.status, 201);
  });

  it('POST /appointments returns 404 naming the missing patient or doctor (another organization\'s included), 422 for an inactive doctor', async () => {
    const { t, doctor, patient } = await setup();
    const other = await setup();
    const noPatient = await t.admin.client.post('/api/v1/appointments', { patient_id: other.patient.id, doctor_id: doctor.id, start_time: at(2, '10:00') });
    assert.equal(noPatient.status, 404);
    assert.equal(noPatient.body.error.details.resource, 'patient');
    const noDoctor = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: other.doctor.id, start_time: at(2, '10:00') });
    assert.equal(noDoctor.status, 404);
    assert.equal(noDoctor.body.error.details.resource, 'doctor');
    const inactive = await buildDoctor(t, { active: false });
    const res = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: inactive.id, start_time: at(2, '10:00') });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.details.reason, 'doctor_inactive');
  });

  it('POST /appointments returns 409 with conflicting_appointment_id when the slot overlaps another', async () => {
    const { t, doctor, patient } = await setup();
    const first = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '10:00'), duration_minutes: 60 });
    const other = await buildPatient(t);
    const clash = await t.admin.client.post('/api/v1/appointments', { patient_id: other.id, doctor_id: doctor.id, start_time: at(2, '10:30') });
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error.code, 'CONFLICT');
    assert.equal(clash.body.error.details.conflicting_appointment_id, first.body.data.id);
    const adjacent = await t.admin.client.post('/api/v1/appointments', { patient_id: other.id, doctor_id: doctor.id, start_time: at(2, '11:00') });
    assert.equal(adjacent.status, 201, 'back-to-back appointments do not overlap');
    const otherDoctor = await buildDoctor(t);
    const parallel = await t.admin.client.post('/api/v1/appointments', { patient_id: other.id, doctor_id: otherDoctor.id, start_time: at(2, '10:30') });
    assert.equal(parallel.status, 201);
  });

  it('50 concurrent POST /appointments for the same slot: exactly one 201 and 49 x 409', async function () {
    this.timeout(60_000);
    const { t, doctor } = await setup();
    const patients = await Promise.all(Array.from({ length: 50 }, () => buildPatient(t)));
    const start = at(3, '12:00');
    const results = await Promise.all(patients.map((p, i) =>
      t.admin.client.post('/api/v1/appointments', { patient_id: p.id, doctor_id: doctor.id, start_time: start, duration_minutes: i % 2 ? 30 : 15 })));
    const created = results.filter((r) => r.status === 201);
    const conflicts = results.filter((r) => r.status === 409);
    assert.equal(created.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
    assert.equal(conflicts.length, 49, `statuses: ${results.map((r) => r.status).join(',')}`);
    for (const c of conflicts) assert.equal(c.body.error.details.conflicting_appointment_id, created[0].body.data.id);
    const [{ count }] = await t.svc.deps.db.knex('appointments').where({ doctor_id: doctor.id }).count('* as count');
    assert.equal(Number(count), 1);
  });

  it('bookings of one doctor go one at a time: the second waits on the doctor\'s booking lock, then answers 409 naming the first (two connections on PostgreSQL; the constraint behind it on PGlite)', async function () {
    const { t, doctor, patient } = await setup();
    const db = t.svc.deps.db.knex;
    if (t.svc.deps.db.kind !== 'postgres') {
      // PGlite is one connection, so no two transactions interleave: check the constraint that backs the lock.
      const row = (id: string) => ({ id, organization_id: t.org.id, patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '10:00'), end_time: at(2, '10:30'), duration_minutes: 30, status: 'scheduled' });
      await db('appointments').insert(row(`apt_race_a_${t.org.id}`));
      await assert.rejects(db('appointments').insert({ ...row(`apt_race_b_${t.org.id}`), start_time: at(2, '10:15'), end_time: at(2, '10:45') }), (e: { code?: string }) => e.code === '23P01');
      return;
    }
    const scope = { organizationId: t.org.id };
    const p2 = await buildPatient(t);
    const startTime = at(2, '10:00');
    const trx = await db.transaction();
    const first = await bookAppointment(trx, scope, { patientId: patient.id, doctorId: doctor.id, startTime, durationMinutes: 30, actor: 'staff' });
    // The second booking runs inside the caller's transaction (as the conversation engine does), which stays usable afterwards.
    const second = db.transaction(async (outer) => {
      const e = await bookAppointment(outer, scope, { patientId: p2.id, doctorId: doctor.id, startTime, durationMinutes: 30, actor: 'staff' })
        .then(() => null, (x: { code: string; details: { conflicting_appointment_id: string } }) => x);
      await outer('events').where({ organization_id: t.org.id }).count('* as n');
      return e;
    });
    // It waits on the lock, before its overlap check, and not inside the exclusion index, where two bookings that
    // each inserted wait for each other until PostgreSQL's deadlock timeout (1 s) breaks the tie.
    const waiting = async () => Number((await db.raw(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0].n);
    for (let i = 0; i < 200 && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await waiting(), 1, 'the second booking waits on the doctor\'s booking lock');
    await trx.commit();
    const err = await second;
    assert.equal(err?.code, 'CONFLICT');
    assert.equal(err?.details.conflicting_appointment_id, first.id);
  });

  it('GET /appointments filters by doctor (provider_id alias), patient, status (canceled accepted), type and date range, and paginates', async () => {
    const { t, doctor, patient } = await setup();
    const other = await buildDoctor(t);
    const p2 = await buildPatient(t);
    const mk = async (d: string, p: string, start: string, extra: Record<string, unknown> = {}) =>
      (await t.admin.client.post('/api/v1/appointments', { patient_id: p, doctor_id: d, start_time: start, ...extra })).body.data.id as string;
    const a1 = await mk(doctor.id, patient.id, at(2, '09:00'));
    const a2 = await mk(doctor.id, p2.id, at(3, '09:00'), { type: 'follow_up' });
    const a3 = await mk(other.id, patient.id, at(4, '09:00'));
    const a4 = await mk(doctor.id, patient.id, at(5, '09:00'));
    await t.admin.client.delete(`/api/v1/appointments/${a4}?reason=Travel`);
    const ids = async (q: string) => (await t.admin.client.get(`/api/v1/appointments?${q}`)).body.data.map((a: { id: string }) => a.id);
    assert.deepEqual(await ids(`doctor_id=${doctor.id}`), [a1, a2, a4]);
    assert.deepEqual(await ids(`provider_id=${doctor.id}&status=scheduled`), [a1, a2]);
    assert.deepEqual(await ids(`patient_id=${patient.id}&sort=start_time:desc`), [a4, a3, a1]);
    assert.deepEqual(await ids('status=canceled'), [a4]);
    assert.deepEqual(await ids('status=scheduled,cancelled&type=follow_up'), [a2]);
    assert.deepEqual(await ids(`start_date=${dateAhead(3)}&end_date=${dateAhead(4)}`), [a2, a3]);
    assert.deepEqual(await ids(`date_from=${at(3, '09:00')}&date_to=${at(3, '09:00')}`), [a2]);
    const page = await t.admin.client.get('/api/v1/appointments?limit=3&page=2');
    assert.deepEqual(page.body.pagination, { page: 2, limit: 3, total: 4, total_pages: 2 });
    assert.equal(page.body.data[0].id, a4);
    assert.equal(page.body.data[0].doctor_name, doctor.name);
    assert.equal(page.body.data[0].patient_name, patient.name);
    assert.equal((await t.admin.client.get('/api/v1/appointments?status=postponed')).status, 400);
    assert.equal((await t.admin.client.get('/api/v1/appointments?sort=reason:asc')).status, 400);
  });

  it('GET /appointments reads date filters in the organization\'s time zone', async () => {
    const t = await createTestOrg({ timeZone: 'Asia/Kolkata' });
    const { doctor, patient } = await setup(t);
    // 20:00Z is 01:30 the next day in Kolkata (+05:30): doctors work 08:00-20:00 local, so book 04:00Z = 09:30 local.
    const id = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '04:00') })).body.data.id;
    assert.ok(id);
    const day = dateAhead(2);
    const res = await t.admin.client.get(`/api/v1/appointments?start_date=${day}&end_date=${day}`);
    assert.deepEqual(res.body.data.map((a: { id: string }) => a.id), [id]);
    const before = await t.admin.client.get(`/api/v1/appointments?end_date=${dateAhead(1)}`);
    assert.equal(before.body.pagination.total, 0);
  });

  it('a provider linked to a doctor sees only that doctor\'s appointments (others are 404)', async () => {
    const { t, doctor, patient } = await setup();
    const other = await buildDoctor(t);
    const mine = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '09:00') })).body.data.id;
    const theirs = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: other.id, start_time: at(2, '10:00') })).body.data.id;
    const provider = await createTestUser(t.svc, t.org.id, 'provider', { doctor_id: doctor.id });
    const list = await provider.client.get('/api/v1/appointments');
    assert.deepEqual(list.body.data.map((a: { id: string }) => a.id), [mine]);
    assert.equal((await provider.client.get(`/api/v1/appointments?doctor_id=${other.id}`)).body.pagination.total, 0);
    assert.equal((await provider.client.get(`/api/v1/appointments/${mine}`)).status, 200);
    assert.equal((await provider.client.get(`/api/v1/appointments/${theirs}`)).status, 404);
    assert.equal((await provider.client.post(`/api/v1/appointments/${theirs}/cancel`, {})).status, 404);
    const booking = await provider.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: other.id, start_time: at(2, '11:00') });
    assert.equal(booking.status, 403);
  });

  it('GET /appointments/:id answers 401 without a token and 404 for another organization', async () => {
    const { t, doctor, patient } = await setup();
    const b = await createTestOrg();
    const id = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '09:00') })).body.data.id;
    assert.equal((await new ApiClient(t.svc.url).get(`/api/v1/appointments/${id}`)).status, 401);
    assert.equal((await b.admin.client.get(`/api/v1/appointments/${id}`)).status, 404);
    assert.equal((await b.admin.client.patch(`/api/v1/appointments/${id}`, { notes: 'x' })).status, 404);
    assert.equal((await b.admin.client.delete(`/api/v1/appointments/${id}`)).status, 404);
    assert.equal((await b.admin.client.get('/api/v1/appointments')).body.pagination.total, 0);
  });

  it('PATCH /appointments/:id reschedules (same rules) and edits notes; PUT works the same', async () => {
    const { t, doctor, patient } = await setup();
    const id = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '09:00') })).body.data.id;
    const moved = await t.admin.client.patch(`/api/v1/appointments/${id}`, { scheduled_at: at(2, '15:00'), duration_minutes: 60, notes: 'Moved by phone' });
    assert.equal(moved.status, 200);
    assert.equal(moved.body.data.start_time, at(2, '15:00'));
    assert.equal(moved.body.data.end_time, at(2, '16:00'));
    assert.equal(moved.body.data.notes, 'Moved by phone');
    assert.equal(moved.body.data.rescheduled_from, at(2, '09:00'));
    const put = await t.admin.client.put(`/api/v1/appointments/${id}`, { reason: 'Follow-up' });
    assert.equal(put.body.data.reason, 'Follow-up');
    assert.equal(put.body.data.start_time, at(2, '15:00'));
    const outside = await t.admin.client.patch(`/api/v1/appointments/${id}`, { start_time: at(2, '21:00') });
    assert.equal(outside.status, 422);
    const past = await t.admin.client.patch(`/api/v1/appointments/${id}`, { start_time: at(-2, '10:00') });
    assert.equal(past.status, 400);
    assert.deepEqual(await eventsOf(t, id), ['appointment.created', 'appointment.updated', 'appointment.updated', 'appointment.updated']);
  });

  it('rescheduling into a taken slot answers 409 and leaves the original appointment unchanged', async () => {
    const { t, doctor, patient } = await setup();
    const p2 = await buildPatient(t);
    const a = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '09:00') })).body.data;
    const b = (await t.admin.client.post('/api/v1/appointments', { patient_id: p2.id, doctor_id: doctor.id, start_time: at(2, '10:00') })).body.data;
    const res = await t.admin.client.patch(`/api/v1/appointments/${a.id}`, { start_time: at(2, '10:15'), notes: 'should not stick' });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.details.conflicting_appointment_id, b.id);
    const after = (await t.admin.client.get(`/api/v1/appointments/${a.id}`)).body.data;
    assert.deepEqual(after, a);
    // Moving within its own current range is allowed (the row does not conflict with itself).
    const shifted = await t.admin.client.patch(`/api/v1/appointments/${a.id}`, { start_time: at(2, '09:15') });
    assert.equal(shifted.status, 200);
    // The old time is free at once; the new one is held.
    const slots = (await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=${dateAhead(2)}&duration_minutes=15`)).body.data;
    const free = slots.available_slots.map((s: { start_time: string }) => s.start_time);
    assert.ok(free.includes(at(2, '09:00')));
    assert.ok(!free.includes(at(2, '09:15')));
  });

  it('DELETE /appointments/:id?reason= and POST /cancel cancel; a second cancel is 409; cancelled time is free again', async () => {
    const { t, doctor, patient } = await setup();
    const id = (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '09:00') })).body.data.id;
    const del = await t.admin.client.delete(`/api/v1/appointments/${id}?reason=Patient%20unavailable`);
    assert.equal(del.status, 200);
    assert.equal(del.body.data.status, 'cancelled');
    assert.equal(del.body.data.cancellation_reason, 'Patient unavailable');
    assert.equal(del.body.data.cancelled_by, t.admin.user.id);
    assert.ok(del.body.data.cancelled_at);
    const again = await t.admin.client.post(`/api/v1/appointments/${id}/cancel`, { reason: 'twice' });
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /already cancelled/);
    const rebook = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: at(2, '09:00') });
    assert.equal(rebook.status, 201);
    const cancel = await t.admin.client.post(`/api/v1/appointments/${rebook.body.data.id}/cancel`, { reason: 'Feeling better', notify_patient: false });
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.data.cancellation_reason, 'Feeling better');
    assert.deepEqual(await eventsOf(t, id), ['appointment.created', 'appointment.cancelled']);
  });

  it('confirm, complete and no-show follow the valid transitions only', async () => {
    const clock = fixedClock(new Date('2027-05-03T08:00:00Z'));
    const svc = await startExtraService({}, clock);
    const t = await createTestOrg({ svc });
    const { doctor, patient } = await setup(t);
    const book = async (start: string) => (await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: start })).body.data.id as string;
    const a = await book('2027-05-03T10:00:00Z');
    const b = await book('2027-05-03T11:00:00Z');
    const c = await book('2027-05-03T12:00:00Z');
    const confirmed = await t.admin.client.post(`/api/v1/appointments/${a}/confirm`);
    assert.equal(confirmed.status, 200);
    assert.equal(confirmed.body.data.status, 'confirmed');
    assert.ok(confirmed.body.data.confirmed_at);
    assert.equal((await t.admin.client.post(`/api/v1/appointments/${a}/confirm`)).status, 200, 'confirming twice is harmless');
    const early = await t.admin.client.post(`/api/v1/appointments/${a}/complete`);
    assert.equal(early.status, 422);
    assert.equal(early.body.error.details.reason, 'not_started');
    clock.set(new Date('2027-05-03T12:30:00Z'));
    // Access tokens expire on the service's clock: sign in again after moving it.
    const { client } = await createTestUser(svc, t.org.id, 'staff');
    const done = await client.post(`/api/v1/appointments/${a}/complete`);
    assert.equal(done.body.data.status, 'completed');
    const noShow = await client.post(`/api/v1/appointments/${b}/no-show`);
    assert.equal(noShow.body.data.status, 'no_show');
    await client.post(`/api/v1/appointments/${c}/cancel`, {});
    const bad = await client.post(`/api/v1/appointments/${c}/complete`);
    assert.equal(bad.status, 409);
    assert.equal(bad.body.error.message, 'Cannot complete a cancelled appointment');
    assert.equal((await client.post(`/api/v1/appointments/${a}/cancel`, {})).status, 409);
    assert.equal((await client.post(`/api/v1/appointments/${b}/confirm`)).status, 409);
    assert.deepEqual(await eventsOf(t, a), ['appointment.created', 'appointment.confirmed', 'appointment.completed']);
    assert.deepEqual(await eventsOf(t, b), ['appointment.created', 'appointment.no_show']);
  });

  it('a patient may cancel only outside the cancellation window and reschedule only outside the reschedule window; staff always', async () => {
    const t = await createTestOrg({ settings: { cancellation_window_hours: 24, reschedule_window_hours: 2 } });
    const { doctor, patient } = await setup(t);
    const db = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const now = new Date(`${dateAhead(1)}T09:00:00Z`);
    const soon = await bookAppointment(db, scope, { patientId: patient.id, doctorId: doctor.id, startTime: `${dateAhead(1)}T12:00:00Z`, durationMinutes: 30, actor: 'patient', source: 'whatsapp', now });
    assert.equal(soon.source, 'whatsapp');
    await assert.rejects(cancelAppointment(db, scope, soon.id, { actor: 'patient', now }),
      (e: { code: string; details: { reason: string } }) => e.code === 'UNPROCESSABLE_ENTITY' && e.details.reason === 'cancellation_window');
    // 3 hours ahead: outside the 2 h reschedule window.
    const moved = await rescheduleAppointment(db, scope, soon.id, { startTime: `${dateAhead(1)}T13:00:00Z`, actor: 'patient', now });
    assert.equal(new Date(moved.start_time).toISOString(), `${dateAhead(1)}T13:00:00.000Z`);
    const late = new Date(`${dateAhead(1)}T11:30:00Z`);
    await assert.rejects(rescheduleAppointment(db, scope, soon.id, { startTime: `${dateAhead(1)}T15:00:00Z`, actor: 'patient', now: late }),
      (e: { code: string; details: { reason: string } }) => e.code === 'UNPROCESSABLE_ENTITY' && e.details.reason === 'reschedule_window');
    const byStaff = await rescheduleAppointment(db, scope, soon.id, { startTime: `${dateAhead(1)}T15:00:00Z`, actor: 'staff', now: late });
    assert.equal(byStaff.status, 'scheduled');
    const far = await bookAppointment(db, scope, { patientId: patient.id, doctorId: doctor.id, startTime: `${dateAhead(3)}T12:00:00Z`, durationMinutes: 30, actor: 'patient', now });
    assert.equal((await cancelAppointment(db, scope, far.id, { actor: 'patient', reason: 'Travel', now })).status, 'cancelled');
    const upcoming = await listUpcomingAppointments(db, scope, patient.id, now);
    assert.deepEqual(upcoming.map((u) => u.id), [soon.id]);
    assert.equal(upcoming[0].doctor_name, doctor.name);
    assert.equal((await cancelAppointment(db, scope, soon.id, { actor: 'staff', cancelledBy: t.admin.user.id, now: late })).status, 'cancelled');
    assert.deepEqual(await listUpcomingAppointments(db, scope, patient.id, now), []);
  });
});
