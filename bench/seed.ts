/**
 * Seeds one organization with 100k patients, 50 doctors and 200k appointments,
 * set-wise (generate_series), so seeding takes seconds rather than minutes.
 */
import type { Knex } from 'knex';
import { newId } from '../lib/ids.js';

export interface Seeded { organizationId: string; adminUserId: string; doctorIds: string[]; busiestDoctorId: string; firstDay: string }

export async function seedLargeClinic(knex: Knex, opts: { patients: number; appointments: number; doctors: number }): Promise<Seeded> {
  const organizationId = newId('organization');
  await knex('organizations').insert({ id: organizationId, name: 'Bench Clinic', time_zone: 'Europe/Madrid', settings: JSON.stringify({}) });
  const adminUserId = newId('user');
  await knex('users').insert({ id: adminUserId, organization_id: organizationId, email: `bench-${Date.now()}@example.com`, password_hash: 'x', role: 'admin', first_name: 'Bench', last_name: 'Admin' });
  const hours = JSON.stringify(Object.fromEntries(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, ['08:00-20:00']])));
  const doctorIds = Array.from({ length: opts.doctors }, () => newId('doctor'));
  await knex('doctors').insert(doctorIds.map((id, i) => ({ id, organization_id: organizationId, name: `Dr. Bench ${i}`, specialization: i % 2 ? 'Cardiology' : 'General Practice', working_hours: hours, active: true })));

  // Patients: ids keep the prefix and are unique; phones are unique Spanish mobiles.
  await knex.raw(`
    INSERT INTO patients (id, organization_id, name, phone, preferred_language, status, metadata)
    SELECT 'pat_bench' || lpad(g::text, 8, '0'), ?, 'Patient ' || g, '+346' || lpad(g::text, 8, '0'),
           (ARRAY['en','es','ca','hi'])[1 + g % 4], 'active', '{}'
    FROM generate_series(1, ?) g`, [organizationId, opts.patients]);

  // Appointments: 30-minute slots per doctor, consecutive, from tomorrow on, 24 per day (08:00-20:00 local-ish).
  const first = new Date();
  first.setUTCDate(first.getUTCDate() + 1);
  first.setUTCHours(7, 0, 0, 0);
  const perDoctor = Math.ceil(opts.appointments / opts.doctors);
  await knex.raw(`
    INSERT INTO appointments (id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, status, source)
    SELECT 'apt_bench' || lpad(g::text, 9, '0'), ?,
           'pat_bench' || lpad((1 + (g % ?))::text, 8, '0'),
           (?::text[])[1 + (g / ?)],
           ?::timestamptz + ((g % ? ) / 24) * interval '1 day' + ((g % ?) % 24) * interval '30 minutes',
           ?::timestamptz + ((g % ? ) / 24) * interval '1 day' + ((g % ?) % 24) * interval '30 minutes' + interval '30 minutes',
           30, 'scheduled', 'api'
    FROM generate_series(0, ? - 1) g`,
  [organizationId, opts.patients, doctorIds, perDoctor, first.toISOString(), perDoctor, perDoctor, first.toISOString(), perDoctor, perDoctor, opts.appointments]);
  // What autovacuum would soon do after a bulk load (and might otherwise do in the middle of a measurement).
  await knex.raw('VACUUM ANALYZE');
  return { organizationId, adminUserId, doctorIds, busiestDoctorId: doctorIds[0], firstDay: first.toISOString().slice(0, 10) };
}
