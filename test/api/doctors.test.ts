import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildDoctor, buildPatient, ALL_WEEK_HOURS, WEEKDAY_HOURS } from '../support/factories.js';
import { ApiClient } from '../support/client.js';

/** A UTC calendar date `days` from today. */
const dateAhead = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe('/api/v1/doctors', () => {
  it('POST /doctors creates a doctor, normalizing phone and working hours; time_zone defaults to the organization\'s', async () => {
    const { admin } = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const res = await admin.client.post('/api/v1/doctors', {
      name: 'Dr. Priya Sharma', specialization: 'General Physician', phone_number: '+34 612 34 56 78', email: 'priya@clinic.test',
      working_hours: { monday: ['14:00-18:00', '09:00-13:00'], Saturday: ['09:00-13:00'] }, location: 'Room 3',
    });
    assert.equal(res.status, 201);
    const d = res.body.data;
    assert.match(d.id, /^doc_/);
    assert.equal(d.phone, '+34612345678');
    assert.equal(d.time_zone, 'Europe/Madrid');
    assert.deepEqual(d.working_hours.monday, ['09:00-13:00', '14:00-18:00']);
    assert.deepEqual(d.working_hours.saturday, ['09:00-13:00']);
    assert.deepEqual(d.working_hours.sunday, []);
    assert.equal(d.active, true);
    assert.equal(d.available, true);
    const own = await admin.client.post('/api/v1/doctors', { name: 'Dr. NY', specialization: 'Cardiology', time_zone: 'America/New_York' });
    assert.equal(own.body.data.time_zone, 'America/New_York');
  });

  it('POST /doctors returns 400 naming each bad field, down to the working-hours range', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/doctors', {
      specialization: 'Cardiology', phone: '12', time_zone: 'Mars/Olympus',
      working_hours: { monday: ['09:00-13:00', '12:00-14:00'], tuesday: ['18:00-09:00'], wednesday: ['9-5'], funday: ['09:00-10:00'] },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    const fields = res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(fields, ['name', 'phone', 'time_zone', 'working_hours.funday', 'working_hours.monday[1]', 'working_hours.tuesday[0]', 'working_hours.wednesday[0]']);
  });

  it('a staff user can read doctors but cannot create them (403 naming doctor.manage); 401 without a token', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const res = await staff.client.post('/api/v1/doctors', { name: 'Dr. X', specialization: 'Dermatology' });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.details.required_permission, 'doctor.manage');
    assert.equal((await staff.client.get('/api/v1/doctors')).status, 200);
    assert.equal((await new ApiClient(t.svc.url).get('/api/v1/doctors')).status, 401);
  });

  it('GET /doctors filters by specialization, availability and search, and paginates', async () => {
    const t = await createTestOrg();
    await buildDoctor(t, { name: 'Dr. Ana Ruiz', specialization: 'Cardiology' });
    await buildDoctor(t, { name: 'Dr. Berta Sol', specialization: 'Cardiology', active: false });
    await buildDoctor(t, { name: 'Dr. Carlos Paz', specialization: 'Dermatology' });
    const cardio = await t.admin.client.get('/api/v1/doctors?specialization=cardiology');
    assert.deepEqual(cardio.body.data.map((d: { name: string }) => d.name), ['Dr. Ana Ruiz', 'Dr. Berta Sol']);
    const available = await t.admin.client.get('/api/v1/doctors?specialization=Cardiology&available=true');
    assert.deepEqual(available.body.data.map((d: { name: string }) => d.name), ['Dr. Ana Ruiz']);
    const inactive = await t.admin.client.get('/api/v1/doctors?available=false');
    assert.deepEqual(inactive.body.data.map((d: { name: string }) => d.name), ['Dr. Berta Sol']);
    const search = await t.admin.client.get('/api/v1/doctors?search=paz');
    assert.deepEqual(search.body.data.map((d: { name: string }) => d.name), ['Dr. Carlos Paz']);
    const page = await t.admin.client.get('/api/v1/doctors?limit=2&page=2');
    assert.deepEqual(page.body.pagination, { page: 2, limit: 2, total: 3, total_pages: 2 });
    assert.deepEqual(page.body.data.map((d: { name: string }) => d.name), ['Dr. Carlos Paz']);
    assert.equal((await t.admin.client.get('/api/v1/doctors?available=maybe')).status, 400);
  });

  it('GET and PATCH /doctors/:id; another organization\'s doctor is 404', async () => {
    const a = await createTestOrg();
    const b = await createTestOrg();
    const doc = await buildDoctor(a);
    const patched = await a.admin.client.patch(`/api/v1/doctors/${doc.id}`, { working_hours: { friday: ['10:00-14:00'] }, active: false, location: 'Room 9' });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.data.working_hours.friday, ['10:00-14:00']);
    assert.deepEqual(patched.body.data.working_hours.monday, [], 'working_hours is replaced whole');
    assert.equal(patched.body.data.active, false);
    assert.equal((await a.admin.client.get(`/api/v1/doctors/${doc.id}`)).body.data.location, 'Room 9');
    const bad = await a.admin.client.patch(`/api/v1/doctors/${doc.id}`, { working_hours: { friday: ['10:00-09:00'] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.fields[0].field, 'working_hours.friday[0]');
    assert.equal((await b.admin.client.get(`/api/v1/doctors/${doc.id}`)).status, 404);
    assert.equal((await b.admin.client.patch(`/api/v1/doctors/${doc.id}`, { name: 'Stolen' })).status, 404);
    assert.equal((await b.admin.client.delete(`/api/v1/doctors/${doc.id}`)).status, 404);
  });

  it('DELETE /doctors/:id answers 409 while it has upcoming appointments; force=true cancels them and soft-deletes', async () => {
    const t = await createTestOrg();
    const doc = await buildDoctor(t);
    const patient = await buildPatient(t);
    const booked = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doc.id, start_time: `${dateAhead(3)}T10:00:00Z` });
    assert.equal(booked.status, 201);
    const refused = await t.admin.client.delete(`/api/v1/doctors/${doc.id}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.details.upcoming_appointments, 1);
    const forced = await t.admin.client.delete(`/api/v1/doctors/${doc.id}?force=true`);
    assert.equal(forced.status, 200);
    assert.equal(forced.body.data.cancelled_appointments, 1);
    assert.equal((await t.admin.client.get(`/api/v1/doctors/${doc.id}`)).status, 404);
    const apt = await t.admin.client.get(`/api/v1/appointments/${booked.body.data.id}`);
    assert.equal(apt.body.data.status, 'cancelled');
    const free = await buildDoctor(t);
    assert.equal((await t.admin.client.delete(`/api/v1/doctors/${free.id}`)).status, 200);
  });

  it('GET /doctors/:id/schedule gives the day\'s appointments in local time, working hours and free slots', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const doc = await buildDoctor(t, { working_hours: ALL_WEEK_HOURS(['09:00-12:00']) });
    const patient = await buildPatient(t, { name: 'Rajesh Kumar' });
    const date = dateAhead(10);
    // 09:30 local in Madrid is 08:30Z (winter) or 07:30Z (summer): book through the free slots to stay zone-agnostic.
    const slots = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doc.id}&date=${date}`);
    assert.equal(slots.body.data.total_slots, 6);
    const at = slots.body.data.available_slots[1];
    assert.equal(at.local_time, '09:30');
    const booked = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doc.id, start_time: at.start_time, duration_minutes: 60 });
    assert.equal(booked.status, 201);
    const res = await t.admin.client.get(`/api/v1/doctors/${doc.id}/schedule?date=${date}`);
    assert.equal(res.status, 200);
    const s = res.body.data;
    assert.equal(s.doctor_id, doc.id);
    assert.equal(s.doctor_name, doc.name);
    assert.equal(s.date, date);
    assert.deepEqual(s.working_hours, ['09:00-12:00']);
    assert.equal(s.total_appointments, 1);
    assert.deepEqual({ ...s.appointments[0], id: undefined, patient_id: undefined, starts_at: undefined, ends_at: undefined }, {
      id: undefined, patient_id: undefined, starts_at: undefined, ends_at: undefined,
      patient_name: 'Rajesh Kumar', start_time: '09:30', end_time: '10:30', type: 'consultation', status: 'scheduled',
    });
    assert.equal(s.appointments[0].starts_at, at.start_time);
    // 09:00, 10:30, 11:00, 11:30 remain free.
    assert.equal(s.available_slots, 4);
  });

  it('GET /doctors/:id/schedule?week=true gives 7 days from the date, one entry per day', async () => {
    const t = await createTestOrg();
    const doc = await buildDoctor(t, { working_hours: WEEKDAY_HOURS(['09:00-10:00'], ['monday']) });
    const patient = await buildPatient(t);
    // The next Monday at least 7 days ahead, UTC organization.
    let offset = 7;
    while (new Date(`${dateAhead(offset)}T00:00:00Z`).getUTCDay() !== 1) offset++;
    const monday = dateAhead(offset);
    const start = dateAhead(offset - 2);
    const booked = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doc.id, start_time: `${monday}T09:00:00Z` });
    assert.equal(booked.status, 201);
    const res = await t.admin.client.get(`/api/v1/doctors/${doc.id}/schedule?date=${start}&week=true`);
    assert.equal(res.status, 200);
    const w = res.body.data;
    assert.equal(w.days.length, 7);
    assert.equal(w.start_date, start);
    assert.equal(w.end_date, dateAhead(offset + 4));
    assert.deepEqual(w.days.map((d: { date: string }) => d.date), Array.from({ length: 7 }, (_, i) => dateAhead(offset - 2 + i)));
    const mon = w.days[2];
    assert.equal(mon.date, monday);
    assert.deepEqual(mon.working_hours, ['09:00-10:00']);
    assert.equal(mon.total_appointments, 1);
    assert.equal(mon.available_slots, 1);
    assert.equal(w.days[0].available_slots, 0);
    assert.equal(w.total_appointments, 1);
    assert.equal((await t.admin.client.get(`/api/v1/doctors/${doc.id}/schedule?date=2027-13-01`)).status, 400);
    assert.equal((await t.admin.client.get('/api/v1/doctors/doc_nope/schedule')).status, 404);
  });
});
