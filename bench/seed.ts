/**
 * Seeds one organization with 100k patients, 50 doctors and 200k appointments,
 * set-wise (generate_series), so seeding takes seconds rather than minutes.
 */
import type { Knex } from 'knex';
import { newId } from '../lib/ids.js';
import { sealText } from '../models/encryption.js';

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

/**
 * A clinic's past: patients, closed web chat conversations with their messages
 * (all delivered), past appointments and processed events, then VACUUM
 * ANALYZE. A benchmark on empty tables measures plans made for empty tables:
 * the planner, and the generic plans of prepared statements, then scan tables
 * that grow 20-fold during the run (a dispatcher claim took 34 ms instead of
 * 2). A live clinic's database has history, and its autovacuum keeps the
 * statistics current, which this machine's PostgreSQL (autovacuum off) would not.
 */
export async function seedChatHistory(knex: Knex, organizationId: string, opts: { patients: number; conversations: number; messagesPerConversation: number; appointments: number }): Promise<void> {
  await knex.raw(`
    INSERT INTO patients (id, organization_id, name, phone, preferred_language, status, metadata, created_at, updated_at, last_activity_at)
    SELECT 'pat_hist' || lpad(g::text, 7, '0'), ?, 'History Patient ' || g, '+3471' || lpad(g::text, 7, '0'), 'en', 'active', '{}',
           now() - interval '200 days', now() - interval '100 days', now() - interval '100 days'
    FROM generate_series(1, ?) g`, [organizationId, opts.patients]);
  await knex.raw(`
    INSERT INTO conversations (id, organization_id, patient_id, channel, channel_address, status, language, message_count, state_version, last_message_at, created_at, updated_at)
    SELECT 'conv_hist' || lpad(g::text, 7, '0'), ?, 'pat_hist' || lpad(((g - 1) % ? + 1)::text, 7, '0'), 'webchat', 'wcs_hist' || g, 'closed', 'en', ?, 1,
           now() - (g % 180) * interval '1 day', now() - (g % 180) * interval '1 day' - interval '10 minutes', now() - (g % 180) * interval '1 day'
    FROM generate_series(1, ?) g`, [organizationId, opts.patients, opts.messagesPerConversation, opts.conversations]);
  // Odd messages are the assistant's replies, delivered; even ones the patient's. Content is sealed as the service
  // stores it (one sealed text per position in the conversation, shared by the conversations: seed data).
  const texts = Array.from({ length: opts.messagesPerConversation }, (_, m) => sealText(knex, `history message ${m}`));
  await knex.raw(`
    INSERT INTO messages (id, organization_id, conversation_id, patient_id, channel, direction, sender, content, to_address, status, attempts,
                          provider_message_id, sent_at, delivered_at, created_at, updated_at)
    SELECT 'msg_hist' || lpad((c * 100 + m)::text, 9, '0'), ?, 'conv_hist' || lpad(c::text, 7, '0'), 'pat_hist' || lpad(((c - 1) % ? + 1)::text, 7, '0'), 'webchat',
           CASE WHEN m % 2 = 0 THEN 'inbound' ELSE 'outbound' END, CASE WHEN m % 2 = 0 THEN 'patient' ELSE 'assistant' END,
           (?::text[])[m + 1], CASE WHEN m % 2 = 1 THEN 'wcs_hist' || c END, CASE WHEN m % 2 = 0 THEN 'received' ELSE 'delivered' END,
           m % 2, CASE WHEN m % 2 = 1 THEN 'msg_hist' || lpad((c * 100 + m)::text, 9, '0') END,
           CASE WHEN m % 2 = 1 THEN now() - (c % 180) * interval '1 day' END, CASE WHEN m % 2 = 1 THEN now() - (c % 180) * interval '1 day' END,
           now() - (c % 180) * interval '1 day' - (100 - m) * interval '20 seconds', now() - (c % 180) * interval '1 day'
    FROM generate_series(1, ?) c, generate_series(0, ? - 1) m`, [organizationId, opts.patients, texts, opts.conversations, opts.messagesPerConversation]);
  // Past appointments (completed, so they hold no slot), spread over the clinic's doctors.
  await knex.raw(`
    INSERT INTO appointments (id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, type, status, source, created_at, updated_at)
    SELECT 'apt_hist' || lpad(g::text, 7, '0'), ?, 'pat_hist' || lpad(((g - 1) % ? + 1)::text, 7, '0'), d.ids[1 + g % array_length(d.ids, 1)],
           date_trunc('hour', now()) - (g % 170 + 2) * interval '1 day' + (g % 24) * interval '30 minutes',
           date_trunc('hour', now()) - (g % 170 + 2) * interval '1 day' + (g % 24 + 1) * interval '30 minutes',
           30, 'consultation', 'completed', 'patient', now() - interval '200 days', now() - interval '200 days'
    FROM generate_series(1, ?) g, (SELECT array_agg(id ORDER BY id) AS ids FROM doctors WHERE organization_id = ?) d`,
  [organizationId, opts.patients, opts.appointments, organizationId]);
  await knex.raw(`
    INSERT INTO events (id, organization_id, event, subject_id, data, created_at, processed_at)
    SELECT 'evt_hist' || lpad(g::text, 9, '0'), ?, 'communication.delivered', 'msg_hist' || lpad(g::text, 9, '0'), '{}', now() - (g % 180) * interval '1 day', now() - (g % 180) * interval '1 day'
    FROM generate_series(1, ?) g`, [organizationId, opts.conversations * opts.messagesPerConversation]);
  await knex.raw('VACUUM ANALYZE');
  // The load and the vacuum leave most of shared_buffers dirty: written out now, not by the first measured seconds.
  // (CHECKPOINT needs a superuser or pg_checkpoint; without it the run only starts less clean.)
  await knex.raw('CHECKPOINT').catch(() => undefined);
}
