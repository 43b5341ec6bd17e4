import assert from 'node:assert/strict';
import { newId } from '../../lib/ids.js';
import { buildDoctor, buildPatient, createTestOrg } from '../support/factories.js';

describe('appointments table invariants', () => {
  it('rejects an appointment whose end is not its start plus its duration', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    const doctor = await buildDoctor(t);
    const knex = t.svc.deps.db.knex;
    const start = new Date(Date.now() + 3 * 86_400_000);
    start.setUTCHours(10, 0, 0, 0);
    const row = (minutes: number) => ({
      id: newId('appointment'), organization_id: t.org.id, patient_id: patient.id, doctor_id: doctor.id,
      start_time: start, end_time: new Date(start.getTime() + minutes * 60_000), duration_minutes: 30, status: 'scheduled', source: 'api',
    });
    await assert.rejects(knex('appointments').insert(row(45)), /appointments_end_is_start_plus_duration/);
    await knex('appointments').insert(row(30));
    await assert.rejects(knex('appointments').where({ organization_id: t.org.id }).update({ duration_minutes: 60 }), /appointments_end_is_start_plus_duration/);
  });
});
