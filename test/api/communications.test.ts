import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestOrg, createTestUser, buildPatient, buildDoctor, type TestOrg } from '../support/factories.js';
import { testService, startExtraService, fixedClock } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { newId } from '../../lib/ids.js';
import { setPatientOptOut } from '../../models/patients.js';
import { Message } from '../../models/messages.js';
import { createBulkSend } from '../../models/communications.js';

const fields = (res: { body: { error: { details: { fields: { field: string }[] } } } }) =>
  res.body.error.details.fields.map((f) => f.field).sort();

/** Inserts n patients in one statement (a factory per row would dominate the test's time). */
async function insertPatients(t: TestOrg, n: number, lang: (i: number) => string = () => 'en'): Promise<string[]> {
  const tag = randomBytes(4).toString('hex').toUpperCase();
  const langs = Array.from({ length: n }, (_, i) => lang(i));
  const rows = (await t.svc.deps.db.knex.raw(
    `INSERT INTO patients (id, organization_id, name, phone, preferred_language)
     SELECT 'pat_T' || ? || lpad(g::text, 7, '0'), ?, 'Patient ' || g, '+3465' || lpad(g::text, 7, '0'), (?::text[])[g]
     FROM generate_series(1, ?) g RETURNING id`,
    [tag, t.org.id, langs, n],
  )) as { rows: { id: string }[] };
  return rows.rows.map((r) => r.id).sort();
}

async function insertAppointment(t: TestOrg, patientId: string, doctorId: string, start: string, status = 'scheduled'): Promise<void> {
  const s = new Date(start);
  await t.svc.deps.db.knex('appointments').insert({
    id: newId('appointment'), organization_id: t.org.id, patient_id: patientId, doctor_id: doctorId,
    start_time: s, end_time: new Date(s.getTime() + 30 * 60_000), duration_minutes: 30, status,
  });
}

async function batchMessages(t: TestOrg, batchId: string): Promise<{ id: string; patient_id: string | null; content: string; status: string; last_error: string | null; next_attempt_at: Date | null }[]> {
  return Message.query(t.svc.deps.db.knex).where({ batch_id: batchId }).orderBy('id').select('id', 'patient_id', 'content', 'status', 'last_error', 'next_attempt_at');
}

describe('/api/v1/communications', () => {
  before(async function () {
    this.timeout(60_000);
    await testService();
  });

  describe('POST /communications/send', () => {
    it('queues a free message (202) rendered with the patient name, and lists it', async () => {
      const t = await createTestOrg();
      const p = await buildPatient(t, { name: 'Ana López' });
      const res = await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'Hola {{first_name}}, gracias' });
      assert.equal(res.status, 202);
      assert.match(res.body.data.id, /^msg_/);
      assert.equal(res.body.data.status, 'queued');
      assert.equal(res.body.data.message, 'Hola Ana, gracias');
      assert.equal(res.body.data.patient_name, 'Ana López');
      assert.equal(res.body.data.sent_by, t.admin.user.id);
      const row = await t.svc.deps.db.knex('messages').where({ id: res.body.data.id }).first();
      assert.equal(row.to_address, p.phone);
      assert.equal(row.direction, 'outbound');
      assert.equal(row.sender, 'staff');
      const list = await t.admin.client.get(`/api/v1/communications?patient_id=${p.id}`);
      assert.deepEqual(list.body.data.map((m: { id: string }) => m.id), [res.body.data.id]);
    });

    it('renders a template in the patient language (es body for an es patient), by id or by name', async () => {
      const t = await createTestOrg();
      const tpl = await t.admin.client.post('/api/v1/templates', { name: 'welcome', bodies: { en: 'Welcome {{name}} to {{clinic}}', es: 'Bienvenida {{name}} a {{clinic}}' } });
      const es = await buildPatient(t, { name: 'María Pérez', preferred_language: 'es' });
      const ca = await buildPatient(t, { name: 'Jordi Puig', preferred_language: 'ca' });
      const r1 = await t.admin.client.post('/api/v1/communications/send', { patient_id: es.id, channel: 'whatsapp', template_id: tpl.body.data.id });
      assert.equal(r1.status, 202);
      assert.equal(r1.body.data.message, `Bienvenida María Pérez a ${t.org.name}`);
      assert.equal(r1.body.data.template_id, tpl.body.data.id);
      const r2 = await t.admin.client.post('/api/v1/communications/send', { patient_id: ca.id, channel: 'sms', template_id: 'welcome' });
      assert.equal(r2.body.data.message, `Welcome Jordi Puig to ${t.org.name}`, 'no ca body: the clinic default (en)');
    });

    it('fills {{date}}, {{time}} and {{doctor}} from the next appointment in the clinic time zone', async () => {
      const t = await createTestOrg({ timeZone: 'Asia/Kolkata' });
      const doctor = await buildDoctor(t, { name: 'Dr. Rao' });
      const p = await buildPatient(t, { preferred_language: 'en' });
      await insertAppointment(t, p.id, doctor.id, '2031-03-10T20:00:00Z'); // 11 March 01:30 in Kolkata
      const res = await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'See {{doctor}} on {{date}} at {{time}}' });
      assert.equal(res.status, 202);
      assert.equal(res.body.data.message, 'See Dr. Rao on 11/03/2031 at 01:30');
      const other = await buildPatient(t);
      const none = await t.admin.client.post('/api/v1/communications/send', { patient_id: other.id, channel: 'sms', message: 'On {{date}}' });
      assert.equal(none.status, 422);
      const explicit = await t.admin.client.post('/api/v1/communications/send', { patient_id: other.id, channel: 'sms', message: 'On {{date}}', variables: { date: 'Friday' } });
      assert.equal(explicit.body.data.message, 'On Friday');
    });

    it('returns 422 for an opted-out patient and for a patient without an address on the channel', async () => {
      const t = await createTestOrg();
      const out = await buildPatient(t);
      await setPatientOptOut(t.svc.deps.db.knex, { organizationId: t.org.id }, out.id, true);
      const r1 = await t.admin.client.post('/api/v1/communications/send', { patient_id: out.id, channel: 'sms', message: 'Hi' });
      assert.equal(r1.status, 422);
      assert.equal(r1.body.error.details.reason, 'opted_out');
      const noPhone = await buildPatient(t, { phone: null });
      const r2 = await t.admin.client.post('/api/v1/communications/send', { patient_id: noPhone.id, channel: 'sms', message: 'Hi' });
      assert.equal(r2.status, 422);
      assert.equal(r2.body.error.details.reason, 'no_address');
      const r3 = await t.admin.client.post('/api/v1/communications/send', { patient_id: noPhone.id, channel: 'telegram', message: 'Hi' });
      assert.equal(r3.status, 422, 'telegram needs a conversation with the patient');
      const stored = await t.svc.deps.db.knex('messages').where({ organization_id: t.org.id }).count('* as n').first();
      assert.equal(Number(stored!.n), 0, 'nothing was stored');
    });

    it('returns 400 naming fields, 404 for another clinic patient or template, 401 without a token', async () => {
      const t = await createTestOrg();
      const p = await buildPatient(t);
      const badChannel = await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'fax', message: 'a' });
      assert.equal(badChannel.status, 400);
      assert.deepEqual(fields(badChannel), ['channel']);
      const both = await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'a', template_id: 'b' });
      assert.equal(both.status, 400);
      assert.deepEqual(fields(both), ['message', 'template_id']);
      const neither = await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms' });
      assert.deepEqual(fields(neither), ['message', 'template_id']);
      const unknownVar = await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'Hi {{surname}}' });
      assert.equal(unknownVar.status, 400);
      assert.deepEqual(fields(unknownVar), ['message']);
      const other = await createTestOrg();
      assert.equal((await other.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'x' })).status, 404);
      const tpl = await other.admin.client.post('/api/v1/templates', { name: 'mine', bodies: { en: 'x' } });
      assert.equal((await t.admin.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', template_id: tpl.body.data.id })).status, 404);
      const anonymous = new ApiClient((await testService()).url);
      assert.equal((await anonymous.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'x' })).status, 401);
    });
  });

  describe('POST /communications/send-bulk', () => {
    it('stores a large batch in chunks, each sealed while the one before is stored: ids in the recipients\' order, counts over all chunks', async () => {
      const t = await createTestOrg();
      const ids = await insertPatients(t, 30);
      await setPatientOptOut(t.svc.deps.db.knex, { organizationId: t.org.id }, ids[12]!, true);
      const view = await t.svc.deps.db.knex.transaction((trx) => createBulkSend(trx, { organizationId: t.org.id }, {
        patientIds: ids, channel: 'sms', message: 'Hello {{name}}', createdBy: null, sender: 'staff', now: new Date(), chunkSize: 7,
      }));
      assert.deepEqual([view.counts.total, view.counts.queued, view.counts.skipped], [30, 29, 1]);
      const rows = await batchMessages(t, view.batch.id);
      assert.deepEqual(rows.map((r) => r.patient_id), [...ids].sort(), 'one row per recipient, ids sorting in the recipients\' order across chunks');
      assert.deepEqual(rows.map((r) => r.content), [...ids].sort().map((id) => `Hello Patient ${Number(id.slice(-7))}`));
      const stored = (await t.svc.deps.db.knex('messages').where({ batch_id: view.batch.id }).pluck('content')) as string[];
      assert.ok(stored.every((c) => c.startsWith('enc:v1:test2:')), 'sealed');
    });

    it('answers 202 at once for 2,000 patients: total 2000, one opted-out patient counted as skipped', async function () {
      this.timeout(60_000);
      const t = await createTestOrg();
      const ids = await insertPatients(t, 2000);
      await setPatientOptOut(t.svc.deps.db.knex, { organizationId: t.org.id }, ids[7], true);
      const res = await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: ids, channel: 'sms', message: 'Closed on Friday, {{name}}' });
      assert.equal(res.status, 202);
      assert.match(res.body.data.id, /^batch_/);
      assert.equal(res.body.data.total, 2000);
      assert.equal(res.body.data.skipped, 1);
      assert.equal(res.body.data.queued, 1999);
      assert.equal(res.body.data.status, 'queued');
      const rows = await batchMessages(t, res.body.data.id);
      assert.equal(rows.length, 2000);
      assert.equal(new Set(rows.map((r) => r.id)).size, 2000);
      const skipped = rows.filter((r) => r.status === 'skipped');
      assert.deepEqual(skipped.map((r) => [r.patient_id, r.last_error]), [[ids[7], 'opted_out']]);
      assert.equal(rows.find((r) => r.patient_id === ids[0])!.content, 'Closed on Friday, Patient 1');
      const got = await t.admin.client.get(`/api/v1/communications/batches/${res.body.data.id}`);
      assert.equal(got.body.data.total, 2000);
      assert.equal(got.body.data.skipped, 1);
    });

    it('renders each recipient in their language with their name (es patients get the Spanish body)', async () => {
      const t = await createTestOrg();
      const tpl = await t.admin.client.post('/api/v1/templates', { name: 'news', bodies: { en: 'Hello {{first_name}} from {{clinic}}', es: 'Hola {{first_name}}, saludos de {{clinic}}' } });
      const es = await buildPatient(t, { name: 'Lucía Gómez', preferred_language: 'es' });
      const en = await buildPatient(t, { name: 'John Smith', preferred_language: 'en' });
      const hi = await buildPatient(t, { name: 'Asha Rao', preferred_language: 'hi' });
      const noPhone = await buildPatient(t, { name: 'No Phone', phone: null });
      const res = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: {}, channel: 'sms', template_id: tpl.body.data.id });
      assert.equal(res.status, 202);
      assert.equal(res.body.data.total, 4);
      assert.equal(res.body.data.skipped, 1);
      const byPatient = new Map((await batchMessages(t, res.body.data.id)).map((m) => [m.patient_id, m]));
      assert.equal(byPatient.get(es.id)!.content, `Hola Lucía, saludos de ${t.org.name}`);
      assert.equal(byPatient.get(en.id)!.content, `Hello John from ${t.org.name}`);
      assert.equal(byPatient.get(hi.id)!.content, `Hello Asha from ${t.org.name}`, 'no hi body: the clinic default');
      assert.equal(byPatient.get(noPhone.id)!.status, 'skipped');
      assert.equal(byPatient.get(noPhone.id)!.last_error, 'no_address');
      const esOnly = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: { language: 'es' }, channel: 'sms', template_id: 'news' });
      assert.equal(esOnly.body.data.total, 2, 'the es patients (one without a phone)');
    });

    it('filters by appointment_date as a local day and formats {{time}} in the clinic zone (America/New_York)', async () => {
      const t = await createTestOrg({ timeZone: 'America/New_York' });
      const doctor = await buildDoctor(t, { name: 'Dr. Adams' });
      const other = await buildDoctor(t, { name: 'Dr. Brown' });
      const morning = await buildPatient(t, { name: 'Early Bird', preferred_language: 'en' });
      const evening = await buildPatient(t, { name: 'Night Owl', preferred_language: 'en' });
      const nextDay = await buildPatient(t, { name: 'Tomorrow Person', preferred_language: 'en' });
      const cancelled = await buildPatient(t, { name: 'Cancelled Person', preferred_language: 'en' });
      const withOther = await buildPatient(t, { name: 'Other Doctor', preferred_language: 'en' });
      await insertAppointment(t, morning.id, doctor.id, '2031-07-01T13:30:00Z'); // 09:30 EDT on 1 July
      await insertAppointment(t, evening.id, doctor.id, '2031-07-02T02:00:00Z'); // 22:00 EDT on 1 July (2 July in UTC)
      await insertAppointment(t, nextDay.id, doctor.id, '2031-07-02T05:00:00Z'); // 01:00 EDT on 2 July
      await insertAppointment(t, cancelled.id, doctor.id, '2031-07-01T15:00:00Z', 'cancelled');
      await insertAppointment(t, withOther.id, other.id, '2031-07-01T16:00:00Z');
      const res = await t.admin.client.post('/api/v1/communications/send-bulk', {
        filter: { appointment_date: '2031-07-01', doctor_id: doctor.id }, channel: 'sms',
        message: '{{name}}: {{doctor}} on {{date}} at {{time}}',
      });
      assert.equal(res.status, 202);
      const contents = (await batchMessages(t, res.body.data.id)).map((m) => m.content).sort();
      assert.deepEqual(contents, ['Early Bird: Dr. Adams on 01/07/2031 at 09:30', 'Night Owl: Dr. Adams on 01/07/2031 at 22:00']);
      const allDoctors = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: { appointment_date: '2031-07-01' }, channel: 'sms', message: '{{time}}' });
      assert.equal(allDoctors.body.data.total, 3);
    });

    it('returns 400 when the content needs an appointment the filter does not give, and for bad recipients', async () => {
      const t = await createTestOrg();
      const p = await buildPatient(t);
      const tpl = await t.admin.client.post('/api/v1/templates', { name: 'r', bodies: { en: 'At {{time}}' } });
      const needsAppt = await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: [p.id], channel: 'sms', template_id: tpl.body.data.id });
      assert.equal(needsAppt.status, 400);
      assert.deepEqual(fields(needsAppt), ['template_id']);
      assert.match(needsAppt.body.error.message, /\{\{time\}\}/);
      const explicit = await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: [p.id], channel: 'sms', template_id: 'r', variables: { time: 'noon' } });
      assert.equal(explicit.status, 202);
      const both = await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: [p.id], filter: {}, channel: 'sms', message: 'x' });
      assert.equal(both.status, 400);
      assert.deepEqual(fields(both), ['filter', 'patient_ids']);
      const badFilter = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: { appointment_date: '2031-13-01', language: 'fr' }, channel: 'sms', message: 'x', variables: { surname: 'x' } });
      assert.equal(badFilter.status, 400);
      assert.deepEqual(fields(badFilter), ['filter.appointment_date', 'filter.language', 'variables.surname']);
      const other = await createTestOrg();
      const foreign = await buildPatient(other);
      const unknown = await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: [p.id, foreign.id], channel: 'sms', message: 'x' });
      assert.equal(unknown.status, 422);
      assert.deepEqual(unknown.body.error.details.unknown_patient_ids, [foreign.id]);
      const nobody = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: { status: 'inactive' }, channel: 'sms', message: 'x' });
      assert.equal(nobody.status, 422);
      assert.equal(await t.svc.deps.db.knex('communication_batches').where({ organization_id: t.org.id }).count('* as n').first().then((r) => Number(r!.n)), 1);
    });

    it('needs communication.bulk: a provider gets 403 (and may still send single messages); 401 without a token', async () => {
      const t = await createTestOrg();
      const p = await buildPatient(t);
      const provider = await createTestUser(t.svc, t.org.id, 'provider');
      const denied = await provider.client.post('/api/v1/communications/send-bulk', { patient_ids: [p.id], channel: 'sms', message: 'x' });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.details.required_permission, 'communication.bulk');
      assert.equal((await provider.client.post('/api/v1/communications/send', { patient_id: p.id, channel: 'sms', message: 'x' })).status, 202);
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      assert.equal((await staff.client.post('/api/v1/communications/send-bulk', { patient_ids: [p.id], channel: 'sms', message: 'x' })).status, 202);
      const anonymous = new ApiClient((await testService()).url);
      assert.equal((await anonymous.post('/api/v1/communications/send-bulk', { patient_ids: [p.id], channel: 'sms', message: 'x' })).status, 401);
    });

    it('with the same Idempotency-Key twice returns the same batch and creates no second one', async () => {
      const t = await createTestOrg();
      await insertPatients(t, 5);
      const body = { filter: { status: 'active' }, channel: 'sms', message: 'Hello {{name}}' };
      const headers = { 'Idempotency-Key': `bulk-${randomBytes(6).toString('hex')}` };
      const first = await t.admin.client.post('/api/v1/communications/send-bulk', body, { headers });
      const second = await t.admin.client.post('/api/v1/communications/send-bulk', body, { headers });
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body.data.id, first.body.data.id);
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      const knex = t.svc.deps.db.knex;
      assert.equal(Number((await knex('communication_batches').where({ organization_id: t.org.id }).count('* as n').first())!.n), 1);
      assert.equal(Number((await knex('messages').where({ organization_id: t.org.id }).count('* as n').first())!.n), 5);
      const changed = await t.admin.client.post('/api/v1/communications/send-bulk', { ...body, message: 'Other' }, { headers });
      assert.equal(changed.status, 422, 'same key, different body');
      const otherPath = await t.admin.client.post(`/api/v1/communications/batches/${first.body.data.id}/cancel`, undefined, { headers });
      assert.equal(otherPath.status, 422, 'same key, different endpoint');
      const otherOrg = await createTestOrg();
      await insertPatients(otherOrg, 1);
      const elsewhere = await otherOrg.admin.client.post('/api/v1/communications/send-bulk', body, { headers });
      assert.equal(elsewhere.status, 202);
      assert.notEqual(elsewhere.body.data.id, first.body.data.id, 'keys are per organization');
    });

    it('defers the messages of a bulk send made inside the quiet hours to their end (clinic zone)', async () => {
      const clock = fixedClock(new Date('2030-01-15T22:30:00Z')); // 23:30 in Madrid
      const svc = await startExtraService({}, clock);
      const t = await createTestOrg({ svc, timeZone: 'Europe/Madrid' });
      await insertPatients(t, 2);
      const res = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: {}, channel: 'sms', message: 'x' });
      assert.equal(res.status, 202);
      const rows = await batchMessages(t, res.body.data.id);
      assert.deepEqual(rows.map((r) => new Date(r.next_attempt_at!).toISOString()), ['2030-01-16T07:00:00.000Z', '2030-01-16T07:00:00.000Z']);
    });
  });

  describe('batches', () => {
    it('GET /communications/batches/:id counts by status after simulated delivery and records completed_at once', async () => {
      const t = await createTestOrg();
      await insertPatients(t, 10);
      const res = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: {}, channel: 'sms', message: 'x' });
      const id = res.body.data.id;
      const rows = await batchMessages(t, id);
      const knex = t.svc.deps.db.knex;
      // Simulate the dispatcher and delivery receipts (the aggregation is what is tested here).
      await knex('messages').whereIn('id', rows.slice(0, 3).map((r) => r.id)).update({ status: 'sent' });
      await knex('messages').whereIn('id', rows.slice(3, 5).map((r) => r.id)).update({ status: 'delivered' });
      await knex('messages').whereIn('id', rows.slice(5, 6).map((r) => r.id)).update({ status: 'read' });
      await knex('messages').whereIn('id', rows.slice(6, 7).map((r) => r.id)).update({ status: 'failed' });
      await knex('messages').whereIn('id', rows.slice(7, 8).map((r) => r.id)).update({ status: 'sending' });
      const mid = await t.admin.client.get(`/api/v1/communications/batches/${id}`);
      assert.equal(mid.status, 200);
      assert.deepEqual(
        { ...mid.body.data, id: undefined, batch_id: undefined, created_at: undefined },
        { id: undefined, batch_id: undefined, created_at: undefined, status: 'processing', channel: 'sms', template_id: null, total: 10, queued: 3, sent: 3, delivered: 3, failed: 1, skipped: 0, cancelled: 0, completed_at: null },
      );
      await knex('messages').where({ batch_id: id }).whereIn('status', ['queued', 'sending']).update({ status: 'delivered' });
      const done = await t.admin.client.get(`/api/v1/communications/batches/${id}`);
      assert.equal(done.body.data.status, 'completed');
      assert.equal(done.body.data.delivered, 6);
      assert.ok(done.body.data.completed_at);
      const again = await t.admin.client.get(`/api/v1/communications/batches/${id}`);
      assert.equal(again.body.data.completed_at, done.body.data.completed_at);
      const other = await createTestOrg();
      assert.equal((await other.admin.client.get(`/api/v1/communications/batches/${id}`)).status, 404);
    });

    it('POST /communications/batches/:id/cancel moves queued messages to cancelled; already-sent stay sent', async () => {
      const t = await createTestOrg();
      await insertPatients(t, 6);
      const res = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: {}, channel: 'sms', message: 'x' });
      const id = res.body.data.id;
      const rows = await batchMessages(t, id);
      const knex = t.svc.deps.db.knex;
      await knex('messages').whereIn('id', rows.slice(0, 2).map((r) => r.id)).update({ status: 'sent' }); // simulated dispatcher
      const other = await createTestOrg();
      assert.equal((await other.admin.client.post(`/api/v1/communications/batches/${id}/cancel`)).status, 404);
      const provider = await createTestUser(t.svc, t.org.id, 'provider');
      assert.equal((await provider.client.post(`/api/v1/communications/batches/${id}/cancel`)).status, 403);
      const cancelled = await t.admin.client.post(`/api/v1/communications/batches/${id}/cancel`);
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.data.status, 'cancelled');
      assert.equal(cancelled.body.data.cancelled, 4);
      assert.equal(cancelled.body.data.sent, 2);
      assert.equal(cancelled.body.data.queued, 0);
      const statuses = (await batchMessages(t, id)).map((m) => m.status).sort();
      assert.deepEqual(statuses, ['cancelled', 'cancelled', 'cancelled', 'cancelled', 'sent', 'sent']);
      assert.equal((await t.admin.client.post(`/api/v1/communications/batches/${id}/cancel`)).body.data.status, 'cancelled', 'cancelling twice is harmless');
      const finished = await t.admin.client.post('/api/v1/communications/send-bulk', { filter: {}, channel: 'sms', message: 'y' });
      await knex('messages').where({ batch_id: finished.body.data.id }).update({ status: 'delivered' });
      const late = await t.admin.client.post(`/api/v1/communications/batches/${finished.body.data.id}/cancel`);
      assert.equal(late.status, 409);
    });
  });

  describe('GET /communications', () => {
    it('filters by channel, status, batch, direction and dates, and paginates', async () => {
      const t = await createTestOrg();
      const a = await buildPatient(t, { name: 'A' });
      const b = await buildPatient(t, { name: 'B' });
      await t.admin.client.post('/api/v1/communications/send', { patient_id: a.id, channel: 'sms', message: 'one' });
      await t.admin.client.post('/api/v1/communications/send', { patient_id: a.id, channel: 'whatsapp', message: 'two' });
      const bulk = await t.admin.client.post('/api/v1/communications/send-bulk', { patient_ids: [a.id, b.id], channel: 'sms', message: 'three' });
      const get = (q: string) => t.admin.client.get(`/api/v1/communications${q}`);
      assert.equal((await get('')).body.pagination.total, 4);
      assert.equal((await get('?channel=whatsapp')).body.data[0].message, 'two');
      assert.equal((await get(`?batch_id=${bulk.body.data.id}`)).body.pagination.total, 2);
      assert.equal((await get('?status=pending')).body.pagination.total, 4);
      assert.equal((await get('?status=delivered')).body.pagination.total, 0);
      assert.equal((await get('?direction=inbound')).body.pagination.total, 0);
      const today = new Date().toISOString().slice(0, 10);
      assert.equal((await get(`?start_date=${today}&end_date=${today}`)).body.pagination.total, 4);
      assert.equal((await get('?date_to=2020-01-01')).body.pagination.total, 0);
      const page = await get('?limit=3&page=2&sort=created_at:asc');
      assert.deepEqual(page.body.pagination, { page: 2, limit: 3, total: 4, total_pages: 2 });
      assert.equal((await get('?status=nope&sort=content:asc')).status, 400);
      const provider = await createTestUser(t.svc, t.org.id, 'provider');
      assert.equal((await provider.client.get('/api/v1/communications')).status, 200);
      const other = await createTestOrg();
      assert.equal((await other.admin.client.get(`/api/v1/communications?patient_id=${a.id}`)).body.pagination.total, 0);
    });
  });
});
