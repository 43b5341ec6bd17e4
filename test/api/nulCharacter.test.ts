import assert from 'node:assert/strict';
import { createTestOrg, buildPatient } from '../support/factories.js';
import { toAppError } from '../../api/http/middleware.js';

// PostgreSQL cannot store U+0000 (nor, in jsonb, half a surrogate pair); a request that carries one gets a 400 naming where, not a 500.
describe('requests that carry U+0000 or an unpaired surrogate', () => {
  it('POST /patients returns 400 naming the body field, nested ones by their path, and stores nothing', async () => {
    const { admin } = await createTestOrg();
    const res = await admin.client.post('/api/v1/patients', { name: 'Ana\u0000 López', phone: '+34612000111' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    assert.deepEqual(res.body.error.details.fields, [{ field: 'name', message: 'must not contain the NUL character (U+0000)' }]);
    const nested = await admin.client.post('/api/v1/patients', { name: 'Ana', phone: '+34612000111', metadata: { 'so\u0000urce': 'x', tags: ['a', 'b\u0000'] } });
    assert.equal(nested.status, 400);
    assert.equal(nested.body.error.details.fields[0].field, 'metadata.source');
    const list = await admin.client.get('/api/v1/patients');
    assert.equal(list.body.pagination.total, 0);
  });

  it('GET /appointments returns 400 naming the query parameter, and GET /appointments/:id the path parameter', async () => {
    const { admin } = await createTestOrg();
    const query = await admin.client.get('/api/v1/appointments?patient_id=pat_%00');
    assert.equal(query.status, 400);
    assert.deepEqual(query.body.error.details.fields, [{ field: 'patient_id', message: 'must not contain the NUL character (U+0000)', in: 'query' }]);
    const path = await admin.client.get('/api/v1/appointments/apt_%00');
    assert.equal(path.status, 400);
    assert.deepEqual(path.body.error.details.fields, [{ field: 'id', message: 'must not contain the NUL character (U+0000)', in: 'path' }]);
  });

  it('PATCH /tickets/:id returns 400 and leaves the ticket as it was', async () => {
    const t = await createTestOrg();
    const patient = await buildPatient(t);
    const created = await t.admin.client.post('/api/v1/tickets', { patient_id: patient.id, title: 'Billing question', description: 'Invoice 12' });
    assert.equal(created.status, 201);
    const res = await t.admin.client.patch(`/api/v1/tickets/${created.body.data.id}`, { title: 'Bill\u0000ing', priority: 'high' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.details.fields[0].field, 'title');
    const after = await t.admin.client.get(`/api/v1/tickets/${created.body.data.id}`);
    assert.equal(after.body.data.title, 'Billing question');
    assert.equal(after.body.data.priority, created.body.data.priority);
  });

  it('POST /patients returns 400 naming the field that holds an unpaired surrogate, in a value or a key, and stores nothing', async () => {
    const { admin } = await createTestOrg();
    // JSON can escape half a surrogate pair: jsonb refuses it, and text would silently get U+FFFD.
    for (const [body, field] of [
      [{ name: 'Ana \ud800', phone: '+34612000111' }, 'name'],
      [{ name: 'Ana', phone: '+34612000111', metadata: { source: 'x\udc00' } }, 'metadata.source'],
      [{ name: 'Ana', phone: '+34612000111', metadata: { ['so\ud800urce']: 'x' } }, 'metadata.source'],
    ] as const) {
      const res = await admin.client.post('/api/v1/patients', body);
      assert.equal(res.status, 400, field);
      assert.deepEqual(res.body.error.details.fields, [{ field, message: 'must not contain an unpaired surrogate (it is not valid Unicode)' }]);
    }
    const paired = await admin.client.post('/api/v1/patients', { name: 'Ana 🙂', phone: '+34612000111', metadata: { mood: '🙂' } });
    assert.equal(paired.status, 201, 'a surrogate pair is a character like any other');
    assert.equal((await admin.client.get('/api/v1/patients')).body.pagination.total, 1);
  });

  it('maps the database\'s own refusals of U+0000 (22021 in text, 22P05 in jsonb) to VALIDATION_ERROR', () => {
    for (const code of ['22021', '22P05']) {
      const mapped = toAppError(Object.assign(new Error('invalid byte sequence'), { code }));
      assert.equal(mapped?.code, 'VALIDATION_ERROR', code);
      assert.equal(mapped?.status, 400);
    }
    assert.equal(toAppError(Object.assign(new Error('other'), { code: '22012' })), null);
  });
});
