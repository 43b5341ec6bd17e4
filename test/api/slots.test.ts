import assert from 'node:assert/strict';
import { createTestOrg, buildDoctor, buildPatient, ALL_WEEK_HOURS, WEEKDAY_HOURS } from '../support/factories.js';
import { ApiClient } from '../support/client.js';
import { startExtraService, fixedClock } from '../support/service.js';

const dateAhead = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
interface Slot { start_time: string; end_time: string; local_time: string; doctor_id: string; doctor_name: string }
const locals = (slots: Slot[]) => slots.map((s) => s.local_time);
const utcs = (slots: Slot[]) => slots.map((s) => s.start_time);

/** An organization on a service whose clock is fixed at 2027-03-01 (before both 2027 changes). */
async function orgBeforeDst(timeZone: string) {
  const svc = await startExtraService({}, fixedClock(new Date('2027-03-01T00:00:00Z')));
  return createTestOrg({ svc, timeZone });
}

describe('GET /api/v1/appointments/available-slots', () => {
  it('answers the VAANI shape; a booked slot disappears from it', async () => {
    const t = await createTestOrg();
    const doctor = await buildDoctor(t, { working_hours: ALL_WEEK_HOURS(['09:00-11:00']) });
    const date = dateAhead(5);
    const url = `/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=${date}&duration_minutes=30`;
    const before = await t.admin.client.get(url);
    assert.equal(before.status, 200);
    assert.equal(before.body.data.doctor_id, doctor.id);
    assert.equal(before.body.data.doctor_name, doctor.name);
    assert.equal(before.body.data.date, date);
    assert.equal(before.body.data.total_slots, 4);
    assert.deepEqual(before.body.data.available_slots[0], {
      start_time: `${date}T09:00:00.000Z`, end_time: `${date}T09:30:00.000Z`, local_time: '09:00', doctor_id: doctor.id, doctor_name: doctor.name,
    });
    const patient = await buildPatient(t);
    const booked = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: `${date}T09:30:00Z` });
    assert.equal(booked.status, 201);
    const after = await t.admin.client.get(url);
    assert.deepEqual(locals(after.body.data.available_slots), ['09:00', '10:00', '10:30']);
    const hourly = await t.admin.client.get(`/api/v1/appointments/available-slots?practitioner_id=${doctor.id}&date=${date}&duration=60`);
    assert.deepEqual(locals(hourly.body.data.available_slots), ['10:00'], '09:00-10:00 overlaps the booking');
    await t.admin.client.delete(`/api/v1/appointments/${booked.body.data.id}`);
    assert.equal((await t.admin.client.get(url)).body.data.total_slots, 4, 'a cancelled appointment frees its slot');
  });

  it('excludes past slots (fixed clock)', async () => {
    const svc = await startExtraService({}, fixedClock(new Date('2027-05-03T10:10:00Z')));
    const t = await createTestOrg({ svc });
    const doctor = await buildDoctor(t, { working_hours: ALL_WEEK_HOURS(['09:00-12:00']) });
    const today = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-05-03`);
    assert.deepEqual(locals(today.body.data.available_slots), ['10:30', '11:00', '11:30']);
    const yesterday = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-05-02`);
    assert.equal(yesterday.body.data.total_slots, 0);
  });

  it('Europe/Madrid, 2027-03-28 (clocks go forward at 02:00): no slot in the missing hour, correct UTC instants, bookable', async () => {
    const t = await orgBeforeDst('Europe/Madrid');
    const doctor = await buildDoctor(t, { working_hours: WEEKDAY_HOURS(['01:00-04:00'], ['sunday']) });
    const url = `/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-03-28`;
    const res = await t.admin.client.get(url);
    assert.deepEqual(locals(res.body.data.available_slots), ['01:00', '01:30', '03:00', '03:30']);
    assert.deepEqual(utcs(res.body.data.available_slots), ['2027-03-28T00:00:00.000Z', '2027-03-28T00:30:00.000Z', '2027-03-28T01:00:00.000Z', '2027-03-28T01:30:00.000Z']);
    const patient = await buildPatient(t);
    const booked = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: '2027-03-28T03:00:00+02:00' });
    assert.equal(booked.status, 201);
    assert.equal(booked.body.data.start_time, '2027-03-28T01:00:00.000Z');
    assert.deepEqual(locals((await t.admin.client.get(url)).body.data.available_slots), ['01:00', '01:30', '03:30']);
    // 04:00 CEST is past the end of the working hours.
    const late = await t.admin.client.post('/api/v1/appointments', { patient_id: patient.id, doctor_id: doctor.id, start_time: '2027-03-28T02:00:00Z' });
    assert.equal(late.status, 422);
  });

  it('Europe/Madrid, 2027-10-31 (clocks go back at 03:00): the repeated hour is offered twice, at distinct instants', async () => {
    const t = await orgBeforeDst('Europe/Madrid');
    const doctor = await buildDoctor(t, { working_hours: WEEKDAY_HOURS(['01:00-04:00'], ['sunday']) });
    const res = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-10-31&duration_minutes=60`);
    assert.deepEqual(locals(res.body.data.available_slots), ['01:00', '02:00', '02:00', '03:00']);
    assert.deepEqual(utcs(res.body.data.available_slots), ['2027-10-30T23:00:00.000Z', '2027-10-31T00:00:00.000Z', '2027-10-31T01:00:00.000Z', '2027-10-31T02:00:00.000Z']);
    const schedule = await t.admin.client.get(`/api/v1/doctors/${doctor.id}/schedule?date=2027-10-31&duration_minutes=60`);
    assert.equal(schedule.body.data.available_slots, 4);
  });

  it('America/New_York, 2027-03-14 and 2027-11-07', async () => {
    const t = await orgBeforeDst('America/New_York');
    const doctor = await buildDoctor(t, { working_hours: WEEKDAY_HOURS(['01:00-04:00'], ['sunday']) });
    const spring = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-03-14&duration_minutes=60`);
    assert.deepEqual(spring.body.data.available_slots.map((s: Slot) => `${s.local_time}=${s.start_time}`),
      ['01:00=2027-03-14T06:00:00.000Z', '03:00=2027-03-14T07:00:00.000Z']);
    const fall = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-11-07&duration_minutes=60`);
    assert.deepEqual(fall.body.data.available_slots.map((s: Slot) => `${s.local_time}=${s.start_time}`),
      ['01:00=2027-11-07T05:00:00.000Z', '01:00=2027-11-07T06:00:00.000Z', '02:00=2027-11-07T07:00:00.000Z', '03:00=2027-11-07T08:00:00.000Z']);
    // A normal Sunday has three hours.
    const normal = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${doctor.id}&date=2027-03-21&duration_minutes=60`);
    assert.deepEqual(utcs(normal.body.data.available_slots), ['2027-03-21T05:00:00.000Z', '2027-03-21T06:00:00.000Z', '2027-03-21T07:00:00.000Z']);
  });

  it('specialization= returns the slots of every active doctor of that specialty, soonest first; part_of_day filters', async () => {
    const t = await createTestOrg();
    const ana = await buildDoctor(t, { name: 'Dr. Ana', specialization: 'Cardiology', working_hours: ALL_WEEK_HOURS(['09:00-10:00', '18:00-19:00']) });
    const bea = await buildDoctor(t, { name: 'Dr. Bea', specialization: 'Cardiology', working_hours: ALL_WEEK_HOURS(['09:30-10:30']) });
    await buildDoctor(t, { name: 'Dr. Off', specialization: 'Cardiology', active: false });
    await buildDoctor(t, { name: 'Dr. Skin', specialization: 'Dermatology' });
    const date = dateAhead(4);
    const res = await t.admin.client.get(`/api/v1/appointments/available-slots?specialization=cardiology&date=${date}&duration_minutes=60`);
    assert.equal(res.status, 200);
    assert.equal(res.body.data.doctor_id, null);
    assert.equal(res.body.data.specialization, 'cardiology');
    assert.deepEqual(res.body.data.available_slots.map((s: Slot) => `${s.doctor_id === ana.id ? 'ana' : s.doctor_id === bea.id ? 'bea' : '?'}@${s.local_time}`),
      ['ana@09:00', 'bea@09:30', 'ana@18:00']);
    const evening = await t.admin.client.get(`/api/v1/appointments/available-slots?specialization=Cardiology&date=${date}&duration_minutes=60&part_of_day=evening`);
    assert.deepEqual(locals(evening.body.data.available_slots), ['18:00']);
  });

  it('answers 400 without doctor_id or specialization or with a bad date/duration, 404 for an unknown or foreign doctor, 401 without a token', async () => {
    const t = await createTestOrg();
    const other = await createTestOrg();
    const foreign = await buildDoctor(other);
    const none = await t.admin.client.get(`/api/v1/appointments/available-slots?date=${dateAhead(2)}`);
    assert.equal(none.status, 400);
    assert.equal(none.body.error.details.fields[0].field, 'doctor_id');
    const bad = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${foreign.id}&date=tomorrow&duration_minutes=20`);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort(), ['date', 'duration_minutes']);
    assert.equal((await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${foreign.id}&date=${dateAhead(2)}`)).status, 404);
    assert.equal((await new ApiClient(t.svc.url).get(`/api/v1/appointments/available-slots?doctor_id=${foreign.id}&date=${dateAhead(2)}`)).status, 401);
    const inactive = await buildDoctor(t, { active: false });
    const closed = await t.admin.client.get(`/api/v1/appointments/available-slots?doctor_id=${inactive.id}&date=${dateAhead(2)}`);
    assert.equal(closed.body.data.total_slots, 0);
  });
});
