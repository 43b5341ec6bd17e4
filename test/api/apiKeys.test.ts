import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createTestOrg, createTestUser, buildPatient } from '../support/factories.js';
import { fixedClock, startExtraService, testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const asKey = async (key: string, svcUrl?: string) => new ApiClient(svcUrl ?? (await testService()).url, key);

/** The key's last_used_at is written fire-and-forget after the request: wait for it briefly. */
async function eventually(check: () => Promise<boolean>, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('/api/v1/api-keys', () => {
  it('POST /api-keys shows the key once, stores only its hash and prefix; the key authenticates as its creator', async () => {
    const t = await createTestOrg();
    await buildPatient(t);
    const res = await t.admin.client.post('/api/v1/api-keys', { name: 'EHR sync' });
    assert.equal(res.status, 201);
    const created = res.body.data;
    assert.match(created.id, /^key_/);
    assert.match(created.key, /^cc_[\w-]{40,}$/);
    assert.ok(created.key.startsWith(created.prefix) && created.prefix.length < 16);
    assert.deepEqual(created.scopes, []);
    assert.equal(created.revoked, false);
    assert.equal(created.user_id, t.admin.user.id);

    const row = await t.svc.deps.db.knex('api_keys').where({ id: created.id }).first();
    assert.equal(row.key_hash, sha256(created.key));
    assert.ok(!JSON.stringify(row).includes(created.key), 'the clear key is not stored');

    const client = await asKey(created.key);
    const patients = await client.get('/api/v1/patients');
    assert.equal(patients.status, 200);
    assert.equal(patients.body.pagination.total, 1);
    assert.equal((await client.get('/api/v1/auth/profile')).body.data.id, t.admin.user.id);
  });

  it('GET /api-keys lists the organization\'s keys with prefix and last use, never the key', async () => {
    const t = await createTestOrg();
    const other = await createTestOrg();
    await other.admin.client.post('/api/v1/api-keys', { name: 'not ours' });
    const a = (await t.admin.client.post('/api/v1/api-keys', { name: 'first', scopes: ['patient.view'] })).body.data;
    const b = (await t.admin.client.post('/api/v1/api-keys', { name: 'second', expires_at: new Date(Date.now() + 86_400_000).toISOString() })).body.data;
    await (await asKey(a.key)).get('/api/v1/patients');
    await eventually(async () => (await t.svc.deps.db.knex('api_keys').where({ id: a.id }).first()).last_used_at != null);

    const list = await t.admin.client.get('/api/v1/api-keys');
    assert.equal(list.status, 200);
    assert.equal(list.body.pagination.total, 2);
    assert.deepEqual(list.body.data.map((k: { name: string }) => k.name).sort(), ['first', 'second']);
    const first = list.body.data.find((k: { id: string }) => k.id === a.id);
    assert.equal(first.prefix, a.prefix);
    assert.deepEqual(first.scopes, ['patient.view']);
    assert.ok(first.last_used_at);
    assert.equal(list.body.data.find((k: { id: string }) => k.id === b.id).expires_at, b.expires_at);
    assert.ok(!list.text.includes(a.key) && !list.text.includes(b.key), 'keys never appear in the list');
    assert.ok(list.body.data.every((k: object) => !('key' in k)));
  });

  it('a scoped key may use only its scopes (403 naming the permission otherwise)', async () => {
    const t = await createTestOrg();
    const p = await buildPatient(t);
    const key = (await t.admin.client.post('/api/v1/api-keys', { name: 'read only', scopes: ['patient.view', 'patient.search'] })).body.data.key;
    const client = await asKey(key);
    assert.equal((await client.get(`/api/v1/patients/${p.id}`)).status, 200);
    const write = await client.post('/api/v1/patients', { name: 'Nope' });
    assert.equal(write.status, 403);
    assert.equal(write.body.error.details.required_permission, 'patient.create');
    assert.equal((await client.delete(`/api/v1/patients/${p.id}`)).status, 403);
    assert.equal((await client.get('/api/v1/api-keys')).status, 403, 'a scoped key cannot manage keys');
  });

  it('DELETE /api-keys/:id revokes: the key answers 401 from then on; 404 for another organization', async () => {
    const t = await createTestOrg();
    const other = await createTestOrg();
    const created = (await t.admin.client.post('/api/v1/api-keys', { name: 'temp' })).body.data;
    const client = await asKey(created.key);
    assert.equal((await client.get('/api/v1/patients')).status, 200);
    assert.equal((await other.admin.client.delete(`/api/v1/api-keys/${created.id}`)).status, 404);
    const revoked = await t.admin.client.delete(`/api/v1/api-keys/${created.id}`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.data.revoked, true);
    assert.ok(revoked.body.data.revoked_at);
    const denied = await client.get('/api/v1/patients');
    assert.equal(denied.status, 401);
    assert.equal(denied.body.error.code, 'UNAUTHORIZED');
    assert.equal((await t.admin.client.get('/api/v1/api-keys')).body.data[0].revoked, true);
    assert.equal((await t.admin.client.delete('/api/v1/api-keys/key_missing')).status, 404);
  });

  it('an expired key answers 401', async () => {
    const clock = fixedClock(new Date());
    const svc = await startExtraService({}, clock);
    const t = await createTestOrg({ svc });
    const created = (await t.admin.client.post('/api/v1/api-keys', { name: 'short lived', expires_at: new Date(clock.now().getTime() + 3600_000).toISOString() })).body.data;
    const client = await asKey(created.key, svc.url);
    assert.equal((await client.get('/api/v1/patients')).status, 200);
    clock.advance(3600_000 + 1000);
    assert.equal((await client.get('/api/v1/patients')).status, 401);
  });

  it('a key stops working when its creator is deleted', async () => {
    const t = await createTestOrg();
    const second = await createTestUser(t.svc, t.org.id, 'admin');
    const key = (await second.client.post('/api/v1/api-keys', { name: 'theirs' })).body.data.key;
    assert.equal((await (await asKey(key)).get('/api/v1/patients')).status, 200);
    assert.equal((await t.admin.client.delete(`/api/v1/users/${second.user.id}`)).status, 200);
    assert.equal((await (await asKey(key)).get('/api/v1/patients')).status, 401);
  });

  it('POST /api-keys answers 400 naming unknown scopes, a past expires_at and a missing name', async () => {
    const t = await createTestOrg();
    const bad = await t.admin.client.post('/api/v1/api-keys', { scopes: ['patient.view', 'write:bookings'] });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort(), ['name', 'scopes.1']);
    const past = await t.admin.client.post('/api/v1/api-keys', { name: 'x', expires_at: '2020-01-01T00:00:00Z' });
    assert.equal(past.status, 400);
    assert.equal(past.body.error.details.fields[0].field, 'expires_at');
    assert.equal((await t.admin.client.get('/api/v1/api-keys')).body.pagination.total, 0);
  });

  it('answers 403 for a staff user and 401 without a token', async () => {
    const t = await createTestOrg();
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    const create = await staff.client.post('/api/v1/api-keys', { name: 'mine' });
    assert.equal(create.status, 403);
    assert.equal(create.body.error.details.required_permission, 'api_key.manage');
    assert.equal((await staff.client.get('/api/v1/api-keys')).status, 403);
    assert.equal((await new ApiClient(t.svc.url).get('/api/v1/api-keys')).status, 401);
    assert.equal((await (await asKey('cc_not_a_real_key')).get('/api/v1/patients')).status, 401);
  });
});
