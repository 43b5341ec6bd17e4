import assert from 'node:assert/strict';
import { createTestOrg, createTestUser, buildDoctor, TEST_PASSWORD } from '../support/factories.js';
import { testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';

const fieldsOf = (body: { error: { details: { fields: { field: string }[] } } }) => body.error.details.fields.map((f) => f.field).sort();
const uniqueEmail = (tag: string) => `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@clinic.test`;
const anonymous = async () => new ApiClient((await testService()).url);

describe('/api/v1/users', () => {
  describe('POST /users', () => {
    it('creates a provider linked to a doctor with extra permissions; the user can log in', async () => {
      const t = await createTestOrg();
      const doctor = await buildDoctor(t);
      const email = uniqueEmail('provider');
      const res = await t.admin.client.post('/api/v1/users', {
        email, username: `dr_${Date.now()}`, password: 'a good password', first_name: 'Ana', last_name: 'García',
        role: 'provider', permissions: ['analytics.view'], doctor_id: doctor.id,
      });
      assert.equal(res.status, 201);
      const user = res.body.data;
      assert.match(user.id, /^usr_/);
      assert.equal(user.role, 'provider');
      assert.equal(user.doctor_id, doctor.id);
      assert.deepEqual(user.extra_permissions, ['analytics.view']);
      assert.ok(user.permissions.includes('analytics.view') && user.permissions.includes('patient.view'));
      assert.ok(!user.permissions.includes('user.manage'));
      assert.equal(user.is_active, true);
      assert.doesNotMatch(res.text, /password/);
      const login = await (await anonymous()).post('/api/v1/auth/login', { email, password: 'a good password' });
      assert.equal(login.status, 200);
      assert.equal(login.body.data.user.id, user.id);
    });

    it('answers 400 naming each bad field', async () => {
      const t = await createTestOrg();
      const res = await t.admin.client.post('/api/v1/users', { email: 'nope', password: 'short', role: 'patient', username: 'a@b', permissions: ['fly.plane'] });
      assert.equal(res.status, 400);
      assert.deepEqual(fieldsOf(res.body), ['email', 'first_name', 'last_name', 'password', 'permissions.0', 'role', 'username']);
    });

    it('answers 400 naming doctor_id for a doctor of another organization or a non-provider', async () => {
      const t = await createTestOrg();
      const other = await createTestOrg();
      const foreign = await buildDoctor(other);
      const base = { password: 'a good password', first_name: 'A', last_name: 'B' };
      const res = await t.admin.client.post('/api/v1/users', { ...base, email: uniqueEmail('p'), role: 'provider', doctor_id: foreign.id });
      assert.equal(res.status, 400);
      assert.deepEqual(fieldsOf(res.body), ['doctor_id']);
      const own = await buildDoctor(t);
      const staff = await t.admin.client.post('/api/v1/users', { ...base, email: uniqueEmail('s'), role: 'staff', doctor_id: own.id });
      assert.equal(staff.status, 400);
      assert.deepEqual(fieldsOf(staff.body), ['doctor_id']);
    });

    it('answers 409 for a duplicate email or username, whatever the case', async () => {
      const t = await createTestOrg();
      const base = { password: 'a good password', first_name: 'A', last_name: 'B', role: 'staff' };
      const email = await t.admin.client.post('/api/v1/users', { ...base, email: t.admin.email.toUpperCase() });
      assert.equal(email.status, 409);
      assert.equal(email.body.error.details.field, 'email');
      const username = await t.admin.client.post('/api/v1/users', { ...base, email: uniqueEmail('u'), username: t.admin.user.username!.toUpperCase() });
      assert.equal(username.status, 409);
      assert.equal(username.body.error.details.field, 'username');
    });

    it('answers 403 for a staff user and 401 without a token', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const res = await staff.client.post('/api/v1/users', { email: uniqueEmail('x'), password: 'a good password', first_name: 'A', last_name: 'B', role: 'admin' });
      assert.equal(res.status, 403);
      assert.equal(res.body.error.details.required_permission, 'user.manage');
      assert.equal((await staff.client.get('/api/v1/users')).status, 403);
      assert.equal((await (await anonymous()).get('/api/v1/users')).status, 401);
    });
  });

  describe('GET /users', () => {
    it('lists only the organization, filters by role, is_active and search, paginates and sorts', async () => {
      const t = await createTestOrg();
      await createTestOrg(); // another organization's users never appear
      await createTestUser(t.svc, t.org.id, 'staff', { first_name: 'Zelda', last_name: 'Quintana' });
      await createTestUser(t.svc, t.org.id, 'staff', { is_active: false });
      await createTestUser(t.svc, t.org.id, 'provider');
      const all = await t.admin.client.get('/api/v1/users?limit=2&sort=role:asc');
      assert.equal(all.status, 200);
      assert.deepEqual(all.body.pagination, { page: 1, limit: 2, total: 4, total_pages: 2 });
      assert.deepEqual(all.body.data.map((u: { role: string }) => u.role), ['admin', 'provider']);
      const staff = await t.admin.client.get('/api/v1/users?role=staff');
      assert.equal(staff.body.pagination.total, 2);
      const inactive = await t.admin.client.get('/api/v1/users?is_active=false');
      assert.deepEqual(inactive.body.data.map((u: { status: string }) => u.status), ['inactive']);
      assert.equal((await t.admin.client.get('/api/v1/users?status=active')).body.pagination.total, 3);
      const search = await t.admin.client.get('/api/v1/users?search=zelda%20quin');
      assert.deepEqual(search.body.data.map((u: { first_name: string }) => u.first_name), ['Zelda']);
      const bad = await t.admin.client.get('/api/v1/users?sort=password_hash:asc&role=root');
      assert.equal(bad.status, 400);
      assert.doesNotMatch(all.text, /password_hash|argon2/);
    });
  });

  describe('GET /users/:id', () => {
    it('lets an admin read any user of the organization and a user read itself; 403 for others, 404 across organizations', async () => {
      const t = await createTestOrg();
      const other = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const colleague = await createTestUser(t.svc, t.org.id, 'provider');
      assert.equal((await t.admin.client.get(`/api/v1/users/${staff.user.id}`)).body.data.id, staff.user.id);
      assert.equal((await staff.client.get(`/api/v1/users/${staff.user.id}`)).status, 200);
      const forbidden = await staff.client.get(`/api/v1/users/${colleague.user.id}`);
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error.details.required_permission, 'user.manage');
      assert.equal((await other.admin.client.get(`/api/v1/users/${staff.user.id}`)).status, 404);
      assert.equal((await t.admin.client.get('/api/v1/users/usr_missing')).status, 404);
    });
  });

  describe('PATCH /users/:id', () => {
    it('lets an admin change role, permissions and activity; a deactivated user is logged out at once', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      assert.equal((await staff.client.get('/api/v1/auth/profile')).status, 200);
      const promoted = await t.admin.client.patch(`/api/v1/users/${staff.user.id}`, { role: 'admin', permissions: [] });
      assert.equal(promoted.status, 200);
      assert.equal(promoted.body.data.role, 'admin');
      assert.equal((await staff.client.get('/api/v1/users')).status, 200, 'the new role applies at once');
      const off = await t.admin.client.patch(`/api/v1/users/${staff.user.id}`, { is_active: false });
      assert.equal(off.status, 200);
      assert.equal(off.body.data.status, 'inactive');
      assert.equal((await staff.client.get('/api/v1/auth/profile')).status, 401);
      assert.equal((await (await anonymous()).post('/api/v1/auth/login', { email: staff.email, password: TEST_PASSWORD })).status, 401);
    });

    it('lets an admin set another user\'s password, which ends that user\'s sessions', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const res = await t.admin.client.patch(`/api/v1/users/${staff.user.id}`, { password: 'set by the admin' });
      assert.equal(res.status, 200);
      assert.equal((await staff.client.get('/api/v1/auth/profile')).status, 401);
      assert.equal((await (await anonymous()).post('/api/v1/auth/login', { email: staff.email, password: 'set by the admin' })).status, 200);
    });

    it('lets a user rename itself but not change its role; 403 on another user; 404 across organizations; 409 on a taken email', async () => {
      const t = await createTestOrg();
      const other = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const renamed = await staff.client.patch(`/api/v1/users/${staff.user.id}`, { first_name: 'Laia' });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.data.first_name, 'Laia');
      const escalate = await staff.client.patch(`/api/v1/users/${staff.user.id}`, { role: 'admin' });
      assert.equal(escalate.status, 403);
      assert.equal(escalate.body.error.details.required_permission, 'user.manage');
      assert.equal((await staff.client.patch(`/api/v1/users/${t.admin.user.id}`, { first_name: 'X' })).status, 403);
      assert.equal((await other.admin.client.patch(`/api/v1/users/${staff.user.id}`, { first_name: 'X' })).status, 404);
      const taken = await t.admin.client.patch(`/api/v1/users/${staff.user.id}`, { email: t.admin.email });
      assert.equal(taken.status, 409);
      const bad = await t.admin.client.patch(`/api/v1/users/${staff.user.id}`, { role: 'root', is_active: 'no' });
      assert.equal(bad.status, 400);
      assert.deepEqual(fieldsOf(bad.body), ['is_active', 'role']);
    });

    it('refuses to demote or deactivate the last active admin (409), and allows it when another admin exists', async () => {
      const t = await createTestOrg();
      await createTestUser(t.svc, t.org.id, 'admin', { is_active: false });
      const demote = await t.admin.client.patch(`/api/v1/users/${t.admin.user.id}`, { role: 'staff' });
      assert.equal(demote.status, 409);
      assert.match(demote.body.error.message, /last active admin/);
      const deactivate = await t.admin.client.patch(`/api/v1/users/${t.admin.user.id}`, { is_active: false });
      assert.equal(deactivate.status, 409);
      await createTestUser(t.svc, t.org.id, 'admin');
      const ok = await t.admin.client.patch(`/api/v1/users/${t.admin.user.id}`, { role: 'staff' });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.data.role, 'staff');
    });

    it("answers 422 when an admin sets its own password here instead of /auth/profile", async () => {
      const t = await createTestOrg();
      const res = await t.admin.client.patch(`/api/v1/users/${t.admin.user.id}`, { password: 'no current password' });
      assert.equal(res.status, 422);
    });
  });

  describe('DELETE /users/:id', () => {
    it('soft-deletes: the user disappears, its token and login stop working, its email becomes free', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      assert.equal((await staff.client.get('/api/v1/auth/profile')).status, 200);
      const del = await t.admin.client.delete(`/api/v1/users/${staff.user.id}`);
      assert.equal(del.status, 200);
      assert.equal((await t.admin.client.get(`/api/v1/users/${staff.user.id}`)).status, 404);
      assert.equal((await t.admin.client.get('/api/v1/users?role=staff')).body.pagination.total, 0);
      assert.equal((await staff.client.get('/api/v1/auth/profile')).status, 401);
      assert.equal((await (await anonymous()).post('/api/v1/auth/login', { email: staff.email, password: TEST_PASSWORD })).status, 401);
      const row = await t.svc.deps.db.knex('users').where({ id: staff.user.id }).first();
      assert.ok(row.deleted_at, 'the row is kept');
      const reuse = await t.admin.client.post('/api/v1/users', { email: staff.email, password: 'a good password', first_name: 'New', last_name: 'Owner', role: 'staff' });
      assert.equal(reuse.status, 201);
    });

    it('refuses to delete the last active admin (409); 404 across organizations; 403 for staff', async () => {
      const t = await createTestOrg();
      const other = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const self = await t.admin.client.delete(`/api/v1/users/${t.admin.user.id}`);
      assert.equal(self.status, 409);
      assert.equal((await t.admin.client.get('/api/v1/auth/profile')).status, 200, 'still there');
      assert.equal((await other.admin.client.delete(`/api/v1/users/${staff.user.id}`)).status, 404);
      assert.equal((await staff.client.delete(`/api/v1/users/${staff.user.id}`)).status, 403);
      await createTestUser(t.svc, t.org.id, 'admin');
      assert.equal((await t.admin.client.delete(`/api/v1/users/${t.admin.user.id}`)).status, 200, 'allowed once another admin exists');
    });
  });
});
