import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildPatient, buildDoctor, uniquePhone } from '../support/factories.js';
import { testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';

describe('/api/v1/patients', () => {
  it('POST /patients creates a patient with an E.164 phone and accepts the phone_number alias', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/patients', { name: 'Jane Smith', phone_number: '+34 698 76 54 32', language_preference: 'ca', metadata: { source: 'referral' } });
    assert.equal(res.status, 201);
    assert.match(res.body.data.id, /^pat_/);
    assert.equal(res.body.data.phone, '+34698765432');
    assert.equal(res.body.data.preferred_language, 'ca');
    assert.deepEqual(res.body.data.metadata, { source: 'referral' });
  });

  it('POST /patients returns 400 naming each bad field', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/patients', { phone: '12', email: 'nope', preferred_language: 'fr' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    const fields = res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(fields, ['email', 'name', 'phone', 'preferred_language']);
  });

  it('POST /patients returns 409 naming the patient who has the phone; another clinic, or after a delete, may use it', async () => {
    const t = await createTestOrg();
    const phone = uniquePhone();
    const first = await buildPatient(t, { phone });
    const res = await t.admin.client.post('/api/v1/patients', { name: 'Other', phone });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, 'CONFLICT');
    assert.equal(res.body.error.details.existing_patient_id, first.id);
    const list = await t.admin.client.get(`/api/v1/patients?search=${encodeURIComponent(phone.slice(-6))}`);
    assert.equal(list.body.data.length, 1, 'the refused patient was not stored');

    const other = await createTestOrg();
    assert.equal((await other.admin.client.post('/api/v1/patients', { name: 'Elsewhere', phone })).status, 201);
    assert.equal((await t.admin.client.delete(`/api/v1/patients/${first.id}`)).status, 200);
    const again = await t.admin.client.post('/api/v1/patients', { name: 'Returning', phone });
    assert.equal(again.status, 201);
    assert.notEqual(again.body.data.id, first.id);
  });

  it('GET /patients paginates, searches and filters', async () => {
    const t = await createTestOrg();
    for (let i = 0; i < 5; i++) await buildPatient(t, { name: `Pérez ${i}`, preferred_language: i % 2 ? 'en' : 'es' });
    await buildPatient(t, { name: 'Zoe Unique' });
    const page = await t.admin.client.get('/api/v1/patients?limit=2&page=2&sort=name:asc');
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.pagination, { page: 2, limit: 2, total: 6, total_pages: 3 });
    assert.deepEqual(page.body.data.map((p: { name: string }) => p.name), ['Pérez 2', 'Pérez 3']);
    const search = await t.admin.client.get('/api/v1/patients?search=zoe');
    assert.deepEqual(search.body.data.map((p: { name: string }) => p.name), ['Zoe Unique']);
    const lang = await t.admin.client.get('/api/v1/patients?language=en');
    assert.equal(lang.body.pagination.total, 2);
    const bad = await t.admin.client.get('/api/v1/patients?limit=500&sort=password:asc');
    assert.equal(bad.status, 400);
  });

  it('PATCH and PUT /patients/:id update fields; DELETE soft-deletes and frees the phone', async () => {
    const t = await createTestOrg();
    const p = await buildPatient(t);
    const patched = await t.admin.client.patch(`/api/v1/patients/${p.id}`, { notes: 'Prefers evenings', status: 'inactive' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.notes, 'Prefers evenings');
    assert.equal(patched.body.data.status, 'inactive');
    const put = await t.admin.client.put(`/api/v1/patients/${p.id}`, { notes: 'x' });
    assert.equal(put.status, 400, 'PUT requires the name');
    const del = await t.admin.client.delete(`/api/v1/patients/${p.id}`);
    assert.equal(del.status, 200);
    assert.equal((await t.admin.client.get(`/api/v1/patients/${p.id}`)).status, 404);
    const again = await t.admin.client.post('/api/v1/patients', { name: 'New owner', phone: p.phone });
    assert.equal(again.status, 201);
  });

  it('a staff user cannot delete a patient (403 naming the permission)', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const p = await buildPatient(t);
    const res = await staff.client.delete(`/api/v1/patients/${p.id}`);
    assert.equal(res.status, 403);
    assert.equal(res.body.error.details.required_permission, 'patient.delete');
    assert.equal((await staff.client.get(`/api/v1/patients/${p.id}`)).status, 200);
  });

  it('answers 401 without a token and 404 for another organization', async () => {
    const a = await createTestOrg();
    const b = await createTestOrg();
    const p = await buildPatient(a);
    const anonymous = new ApiClient((await testService()).url);
    assert.equal((await anonymous.get('/api/v1/patients')).status, 401);
    assert.equal((await b.admin.client.get(`/api/v1/patients/${p.id}`)).status, 404);
    assert.equal((await b.admin.client.patch(`/api/v1/patients/${p.id}`, { notes: 'x' })).status, 404);
    assert.equal((await b.admin.client.delete(`/api/v1/patients/${p.id}`)).status, 404);
  });
});

describe('Idempotency-Key on POST', () => {
  it('POST /patients with the same Idempotency-Key twice creates one patient and replays the first answer', async () => {
    const t = await createTestOrg();
    const body = { name: 'Retry Safe', phone: uniquePhone() };
    const headers = { 'Idempotency-Key': 'create-retry-safe-1' };
    const first = await t.admin.client.post('/api/v1/patients', body, { headers });
    const second = await t.admin.client.post('/api/v1/patients', body, { headers });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(second.body.data.id, first.body.data.id);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    const list = await t.admin.client.get('/api/v1/patients?search=Retry');
    assert.equal(list.body.pagination.total, 1);
    const reused = await t.admin.client.post('/api/v1/patients', { ...body, name: 'Other body' }, { headers });
    assert.equal(reused.status, 422);
  });

  it('POST /appointments retried with its Idempotency-Key returns the same appointment, not a 409 against itself', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    const doctor = await buildDoctor(t);
    const start = new Date(Date.now() + 2 * 86_400_000);
    start.setUTCHours(11, 0, 0, 0);
    const body = { patient_id: patient.id, doctor_id: doctor.id, start_time: start.toISOString(), duration_minutes: 30 };
    const headers = { 'Idempotency-Key': 'book-1' };
    const first = await t.admin.client.post('/api/v1/appointments', body, { headers });
    const retry = await t.admin.client.post('/api/v1/appointments', body, { headers });
    assert.equal(first.status, 201);
    assert.equal(retry.status, 201);
    assert.equal(retry.body.data.id, first.body.data.id);
    const without = await t.admin.client.post('/api/v1/appointments', body);
    assert.equal(without.status, 409);
  });

  it('an Idempotency-Key is remembered for a day: after that the same key is a new request', async () => {
    const t = await createTestOrg();
    const headers = { 'Idempotency-Key': 'daily-import-1' };
    const first = await t.admin.client.post('/api/v1/patients', { name: 'Day One', phone: uniquePhone() }, { headers });
    assert.equal(first.status, 201);
    const knex = t.svc.deps.db.knex;
    const rewind = (hours: number) => knex('idempotency_keys').where({ organization_id: t.org.id, key: 'daily-import-1' })
      .update({ created_at: new Date(Date.now() - hours * 3_600_000) });
    await rewind(23);
    assert.equal((await t.admin.client.post('/api/v1/patients', { name: 'Day Two', phone: uniquePhone() }, { headers })).status, 422, 'still remembered');
    await rewind(25);
    const second = await t.admin.client.post('/api/v1/patients', { name: 'Day Two', phone: uniquePhone() }, { headers });
    assert.equal(second.status, 201);
    assert.notEqual(second.body.data.id, first.body.data.id);
    assert.equal(second.headers.get('idempotent-replayed'), null);
    const replay = await t.admin.client.post('/api/v1/patients', { name: 'Day Three', phone: uniquePhone() }, { headers });
    assert.equal(replay.status, 422, 'the new use is remembered in turn (another body)');
  });
});
