import assert from 'node:assert/strict';
import { buildAppointment, buildDoctor, buildPatient, createTestOrg } from '../support/factories.js';
import { findOverlapping, OVERLAPPING_SQL, overlappingBindings } from '../../models/appointmentQueries.js';
import { availableSlotsByDoctor, bookedOfDoctorsStatement, freeSlotsOfDoctors, slotSearchStatement, type AvailableSlot, type SlotDoctor } from '../../models/slots.js';
import { doctorsQuery } from '../../models/doctors.js';
import { genericPlan, planNodes, planProbeTable, type PlanNode } from '../support/plans.js';

const at = (iso: string) => new Date(iso);

/** The reads of the appointments table in a plan. */
function appointmentReads(plan: PlanNode): PlanNode[] {
  return planNodes(plan).filter((n) => n['Relation Name'] === 'appointments');
}

function assertReadsTheDoctorsStretchOfTime(plan: PlanNode): void {
  const reads = appointmentReads(plan);
  assert.ok(reads.length > 0, 'the plan reads appointments');
  for (const read of reads) {
    assert.equal(read['Index Name'], 'appointments_active_by_doctor', `appointments are read through the btree of active appointments (${read['Node Type']} ${read['Index Name'] ?? ''})`);
    // Bounded on both sides: without the lower bound the read covers every earlier appointment of the doctor.
    assert.match(read['Index Cond'] ?? '', /start_time > .*start_time < /s, 'the read is bounded on start_time on both sides');
  }
}

describe('appointment overlap checks (models/appointmentQueries, models/slots)', () => {
  it('finds an hour-long appointment that began before the range, and none that ends as the range starts or starts as it ends', async () => {
    const t = await createTestOrg();
    const doctor = await buildDoctor(t);
    const patient = await buildPatient(t);
    const knex = t.svc.deps.db.knex;
    const start = at('2031-03-04T10:00:00Z');
    const booked = await buildAppointment(t, { patientId: patient.id, doctorId: doctor.id, startTime: start, durationMinutes: 60, now: at('2031-03-01T00:00:00Z') });
    const find = (from: string, to: string) => findOverlapping(knex, t.org.id, doctor.id, at(from), at(to));
    assert.equal(await find('2031-03-04T10:45:00Z', '2031-03-04T11:15:00Z'), booked.id, 'began 45 minutes before the range');
    assert.equal(await find('2031-03-04T10:59:00Z', '2031-03-04T11:29:00Z'), booked.id, 'began 59 minutes before the range');
    assert.equal(await find('2031-03-04T09:30:00Z', '2031-03-04T10:01:00Z'), booked.id, 'starts a minute before the range ends');
    assert.equal(await find('2031-03-04T11:00:00Z', '2031-03-04T11:30:00Z'), null, 'ends as the range starts');
    assert.equal(await find('2031-03-04T09:30:00Z', '2031-03-04T10:00:00Z'), null, 'starts as the range ends');
    assert.equal(await findOverlapping(knex, t.org.id, doctor.id, at('2031-03-04T10:15:00Z'), at('2031-03-04T10:45:00Z'), booked.id), null, 'the excluded appointment is not reported');
  });

  it('the slot search leaves out the time an appointment takes, and offers it again once the appointment is cancelled', async () => {
    const t = await createTestOrg();
    const doctor = await buildDoctor(t, { working_hours: { monday: [], tuesday: ['09:00-12:00'], wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] } });
    const patient = await buildPatient(t);
    const knex = t.svc.deps.db.knex;
    const now = at('2031-03-01T00:00:00Z');
    const booked = await buildAppointment(t, { patientId: patient.id, doctorId: doctor.id, startTime: at('2031-03-04T10:00:00Z'), durationMinutes: 60, now });
    const slots = async () => (await availableSlotsByDoctor(knex, { organizationId: t.org.id }, { doctorId: doctor.id, date: '2031-03-04', durationMinutes: 30, now }))[0]!.slots.map((s) => s.localTime);
    assert.deepEqual(await slots(), ['09:00', '09:30', '11:00', '11:30']);
    await knex('appointments').where({ id: booked.id }).update({ status: 'cancelled' });
    assert.deepEqual(await slots(), ['09:00', '09:30', '10:00', '10:30', '11:00', '11:30']);
  });

  it('the search over doctors held in memory offers what the search that reads them does: own zones, appointments that began earlier, cancelled ones, part of the day', async () => {
    const t = await createTestOrg({ timeZone: 'Europe/Madrid' });
    const tuesday = (ranges: string[]) => ({ monday: [], tuesday: ranges, wednesday: [], thursday: [], friday: [], saturday: [], sunday: [] });
    const madrid = await buildDoctor(t, { specialization: 'Cardiology', working_hours: tuesday(['08:00-14:00', '16:00-19:00']) });
    const canary = await buildDoctor(t, { specialization: 'Cardiology', working_hours: tuesday(['09:00-13:00']), time_zone: 'Atlantic/Canary' });
    await buildDoctor(t, { specialization: 'Cardiology', working_hours: tuesday([]) });
    const patient = await buildPatient(t);
    const knex = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const now = at('2031-03-01T00:00:00Z');
    // An hour from 08:30 Madrid (07:30Z), one of the Canary doctor from 09:00 local (09:00Z), one cancelled at 17:00 Madrid.
    await buildAppointment(t, { patientId: patient.id, doctorId: madrid.id, startTime: at('2031-03-04T07:30:00Z'), durationMinutes: 60, now });
    await buildAppointment(t, { patientId: patient.id, doctorId: canary.id, startTime: at('2031-03-04T09:00:00Z'), durationMinutes: 45, now });
    const cancelled = await buildAppointment(t, { patientId: patient.id, doctorId: madrid.id, startTime: at('2031-03-04T16:00:00Z'), now });
    await knex('appointments').where({ id: cancelled.id }).update({ status: 'cancelled' });

    const held: SlotDoctor[] = (await doctorsQuery(knex, t.org.id).where('doctors.specialization', 'Cardiology'))
      .map((d) => ({ id: d.id, name: d.name, workingHours: d.working_hours, timeZone: d.effective_time_zone }));
    const key = (s: AvailableSlot) => `${s.doctorId} ${s.startTime.toISOString()} ${s.endTime.toISOString()} ${s.localTime}`;
    for (const partOfDay of [undefined, 'morning', 'afternoon', 'evening'] as const) {
      const input = { date: '2031-03-04', durationMinutes: 30, partOfDay, now };
      const read = (await availableSlotsByDoctor(knex, scope, { ...input, specialization: 'Cardiology' })).flatMap((d) => d.slots).map(key).sort();
      const fromMemory = (await freeSlotsOfDoctors(knex, scope, held, input)).map(key).sort();
      assert.deepEqual(fromMemory, read, `part of day ${partOfDay ?? 'any'}`);
    }
    const morning = (await freeSlotsOfDoctors(knex, scope, held, { date: '2031-03-04', durationMinutes: 30, partOfDay: 'morning', now }))
      .filter((s) => s.doctorId === madrid.id).map((s) => s.localTime);
    assert.deepEqual(morning.slice(0, 3), ['08:00', '09:30', '10:00'], 'the hour from 08:30 takes 08:30 and 09:00');
    const canaryTimes = (await freeSlotsOfDoctors(knex, scope, held, { date: '2031-03-04', durationMinutes: 30, now }))
      .filter((s) => s.doctorId === canary.id).map((s) => s.localTime);
    assert.deepEqual(canaryTimes, ['10:00', '10:30', '11:00', '11:30', '12:00', '12:30'], 'local to the Canaries; 09:00-09:45 taken');
    assert.deepEqual(await freeSlotsOfDoctors(knex, scope, held, { date: '2031-03-05', durationMinutes: 30, now }), [], 'nobody works on Wednesday');
  });

  it('the booking check and the slot search read only the doctor\'s appointments of the time asked about, through the btree index, in the generic plan', async () => {
    const t = await createTestOrg();
    const doctors = await Promise.all(Array.from({ length: 8 }, () => buildDoctor(t)));
    const doctor = doctors[0]!;
    const patient = await buildPatient(t);
    const knex = t.svc.deps.db.knex;
    const plans: PlanNode[] = [];
    await knex.transaction(async (trx) => {
      // A table of the same shape and indexes in a schema of its own (the rollback drops it), holding only this
      // clinic's history: the statistics, and so the plan, do not depend on what other tests left in the database.
      await planProbeTable(trx, 'appointments', 'appointment_plan_probe');
      // Two years of appointments every six hours for each of eight doctors, a third of them active: a clinic with a history.
      await trx.raw(
        `INSERT INTO appointments (id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, status)
         SELECT 'apt_plan_' || d.n || '_' || g, ?, ?, d.id, s, s + interval '30 minutes', 30, (ARRAY['scheduled', 'completed', 'cancelled'])[g % 3 + 1]
         FROM unnest(?::text[]) WITH ORDINALITY AS d(id, n), generate_series(1, 3000) g,
           LATERAL (SELECT timestamptz '2029-01-01 08:00+00' + g * interval '6 hours' AS s) x`,
        [t.org.id, patient.id, doctors.map((d) => d.id)]);
      await trx.raw('ANALYZE appointments');
      plans.push(await genericPlan(trx, OVERLAPPING_SQL, overlappingBindings(t.org.id, doctor.id, at('2030-06-01T10:00:00Z'), at('2030-06-01T10:30:00Z'))));
      const search = slotSearchStatement(t.org.id, { doctorId: doctor.id, date: '2030-06-01' });
      plans.push(await genericPlan(trx, search.sql, search.bindings));
      const booked = bookedOfDoctorsStatement(t.org.id, doctors.slice(0, 4).map((d) => d.id), at('2030-06-01T08:00:00Z'), at('2030-06-01T20:00:00Z'));
      plans.push(await genericPlan(trx, booked.sql, booked.bindings));
      await trx.rollback();
    });
    assert.equal(plans.length, 3);
    for (const plan of plans) assertReadsTheDoctorsStretchOfTime(plan);
  });
});
