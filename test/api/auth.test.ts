import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createTestOrg, createTestUser, TEST_PASSWORD } from '../support/factories.js';
import { fixedClock, startExtraService, testConfig, testDatabase, testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { createLogger } from '../../lib/logger.js';
import { startService, type RunningService } from '../../main.js';

const anonymous = async (svc?: RunningService) => new ApiClient((svc ?? (await testService())).url);

/** Captures the reset tokens a service issues, by user id. */
function captureResets(svc: RunningService): Map<string, string> {
  const issued = new Map<string, string>();
  svc.deps.hooks.passwordResetIssued = (userId, token) => { issued.set(userId, token); };
  return issued;
}

describe('/api/v1/auth', () => {
  describe('POST /auth/login', () => {
    it('logs in by email and returns a token pair, the user without secrets, and records last_login_at', async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const res = await api.post('/api/v1/auth/login', { email: t.admin.email.toUpperCase(), password: TEST_PASSWORD });
      assert.equal(res.status, 200);
      const data = res.body.data;
      assert.equal(data.token_type, 'Bearer');
      assert.equal(data.expires_in, 900);
      assert.match(data.refresh_token, /^rt_/);
      assert.equal(data.user.id, t.admin.user.id);
      assert.equal(data.user.organization_id, t.org.id);
      assert.ok(data.user.permissions.includes('user.manage'));
      assert.ok(data.user.last_login_at, 'last_login_at is set');
      assert.doesNotMatch(res.text, /password|argon2/i);
      const profile = await api.get('/api/v1/auth/profile', { token: data.access_token });
      assert.equal(profile.status, 200);
      assert.equal(profile.body.data.email, t.admin.email);
      const row = await t.svc.deps.db.knex('users').where({ id: t.admin.user.id }).first();
      assert.ok(row.last_login_at);
    });

    it('logs in by username, case-insensitively', async () => {
      const t = await createTestOrg();
      const res = await (await anonymous()).post('/api/v1/auth/login', { username: t.admin.user.username!.toUpperCase(), password: TEST_PASSWORD });
      assert.equal(res.status, 200);
      assert.equal(res.body.data.user.id, t.admin.user.id);
    });

    it('answers 401 with one message for a wrong password, an unknown user and an inactive user', async () => {
      const t = await createTestOrg();
      const inactive = await createTestUser(t.svc, t.org.id, 'staff', { is_active: false });
      const api = await anonymous();
      const attempts = [
        { email: t.admin.email, password: 'wrong password' },
        { email: `nobody-${Date.now()}@clinic.test`, password: TEST_PASSWORD },
        { username: 'no_such_user_at_all', password: TEST_PASSWORD },
        { email: inactive.email, password: TEST_PASSWORD },
      ];
      const messages = new Set<string>();
      for (const body of attempts) {
        const res = await api.post('/api/v1/auth/login', body);
        assert.equal(res.status, 401, JSON.stringify(body));
        assert.equal(res.body.error.code, 'UNAUTHORIZED');
        messages.add(res.body.error.message);
      }
      assert.equal(messages.size, 1, 'no user enumeration through messages');
    });

    it('answers 400 naming email when neither email nor username is given, and password when missing', async () => {
      const api = await anonymous();
      const noLogin = await api.post('/api/v1/auth/login', { password: 'x' });
      assert.equal(noLogin.status, 400);
      assert.deepEqual(noLogin.body.error.details.fields.map((f: { field: string }) => f.field), ['email']);
      const noPassword = await api.post('/api/v1/auth/login', { email: 'a@b.test' });
      assert.equal(noPassword.status, 400);
      assert.deepEqual(noPassword.body.error.details.fields.map((f: { field: string }) => f.field), ['password']);
    });
  });

  describe('POST /auth/token', () => {
    it('accepts the OAuth2 password form and JSON, by username or email', async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const form = await api.request('POST', '/api/v1/auth/token', { form: { grant_type: 'password', username: t.admin.user.username!, password: TEST_PASSWORD } });
      assert.equal(form.status, 200);
      assert.equal(form.body.data.token_type, 'Bearer');
      assert.equal(form.body.data.user.id, t.admin.user.id);
      const json = await api.post('/api/v1/auth/token', { username: t.admin.email, password: TEST_PASSWORD });
      assert.equal(json.status, 200);
      assert.equal((await api.get('/api/v1/auth/profile', { token: json.body.data.access_token })).status, 200);
    });

    it('answers 401 for bad credentials and 400 naming grant_type for another grant', async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const bad = await api.request('POST', '/api/v1/auth/token', { form: { username: t.admin.user.username!, password: 'nope nope' } });
      assert.equal(bad.status, 401);
      const grant = await api.request('POST', '/api/v1/auth/token', { form: { grant_type: 'client_credentials', username: 'x', password: 'y' } });
      assert.equal(grant.status, 400);
      assert.deepEqual(grant.body.error.details.fields.map((f: { field: string }) => f.field), ['grant_type']);
    });
  });

  describe('POST /auth/refresh', () => {
    it('rotates: each refresh token works once; reusing one revokes the whole family, newest token included', async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const login = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      const other = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;

      const first = await api.post('/api/v1/auth/refresh', { refresh_token: login.refresh_token });
      assert.equal(first.status, 200);
      assert.notEqual(first.body.data.refresh_token, login.refresh_token);
      assert.equal((await api.get('/api/v1/auth/profile', { token: first.body.data.access_token })).status, 200);
      const second = await api.post('/api/v1/auth/refresh', { refresh_token: first.body.data.refresh_token });
      assert.equal(second.status, 200);

      const reuse = await api.post('/api/v1/auth/refresh', { refresh_token: login.refresh_token });
      assert.equal(reuse.status, 401);
      assert.equal(reuse.body.error.code, 'UNAUTHORIZED');
      const newest = await api.post('/api/v1/auth/refresh', { refresh_token: second.body.data.refresh_token });
      assert.equal(newest.status, 401, 'the newest token of the family is revoked too');
      const rows = await t.svc.deps.db.knex('refresh_tokens').where({ user_id: t.admin.user.id });
      const familyId = rows.find((r) => r.used_at)!.family_id;
      const family = rows.filter((r) => r.family_id === familyId);
      assert.ok(family.length >= 3 && family.every((r) => r.revoked_at), 'every token of the family is revoked');

      const otherSession = await api.post('/api/v1/auth/refresh', { refresh_token: other.refresh_token });
      assert.equal(otherSession.status, 200, 'another login is another family and keeps working');
    });

    it('stores refresh tokens only hashed and answers 401 for an unknown token, 400 when missing', async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const login = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      const rows = await t.svc.deps.db.knex('refresh_tokens').where({ user_id: t.admin.user.id });
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows).includes(login.refresh_token));
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: 'rt_forged' })).status, 401);
      const missing = await api.post('/api/v1/auth/refresh', {});
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.details.fields[0].field, 'refresh_token');
    });

    it('access tokens expire after ACCESS_TOKEN_TTL_SECONDS and refresh tokens after REFRESH_TOKEN_TTL_DAYS', async () => {
      const clock = fixedClock(new Date());
      const svc = await startExtraService({ ACCESS_TOKEN_TTL_SECONDS: '60', REFRESH_TOKEN_TTL_DAYS: '2' }, clock);
      const t = await createTestOrg({ svc });
      const api = await anonymous(svc);
      const login = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      assert.equal(login.expires_in, 60);
      assert.equal((await api.get('/api/v1/auth/profile', { token: login.access_token })).status, 200);
      clock.advance(61_000);
      const expired = await api.get('/api/v1/auth/profile', { token: login.access_token });
      assert.equal(expired.status, 401);
      const refreshed = await api.post('/api/v1/auth/refresh', { refresh_token: login.refresh_token });
      assert.equal(refreshed.status, 200);
      assert.equal((await api.get('/api/v1/auth/profile', { token: refreshed.body.data.access_token })).status, 200);
      clock.advance(2 * 24 * 3600_000 + 1000);
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: refreshed.body.data.refresh_token })).status, 401);
    });
  });

  describe('POST /auth/logout', () => {
    it('ends outstanding access tokens at once and revokes every refresh token', async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const a = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      const b = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      assert.equal((await api.get('/api/v1/auth/profile', { token: a.access_token })).status, 200, 'warms the user cache');
      const out = await api.post('/api/v1/auth/logout', undefined, { token: a.access_token });
      assert.equal(out.status, 200);
      assert.equal((await api.get('/api/v1/auth/profile', { token: a.access_token })).status, 401);
      assert.equal((await api.get('/api/v1/auth/profile', { token: b.access_token })).status, 401);
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: a.refresh_token })).status, 401);
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: b.refresh_token })).status, 401);
      assert.equal((await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).status, 200, 'logging in again works');
    });

    it("with a refresh_token revokes only that token's family", async () => {
      const t = await createTestOrg();
      const api = await anonymous();
      const a = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      const b = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;
      const rotated = (await api.post('/api/v1/auth/refresh', { refresh_token: a.refresh_token })).body.data;
      assert.equal((await api.post('/api/v1/auth/logout', { refresh_token: a.refresh_token }, { token: rotated.access_token })).status, 200);
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: rotated.refresh_token })).status, 401);
      assert.equal((await api.get('/api/v1/auth/profile', { token: rotated.access_token })).status, 401);
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: b.refresh_token })).status, 200);
    });

    it('answers 401 without a token', async () => {
      assert.equal((await (await anonymous()).post('/api/v1/auth/logout')).status, 401);
    });
  });

  describe('password reset', () => {
    it('forgot + reset: the new password works, the old fails, sessions end and the token is single use', async () => {
      const svc = await startExtraService();
      const issued = captureResets(svc);
      const t = await createTestOrg({ svc });
      const api = await anonymous(svc);
      const session = (await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).body.data;

      const forgot = await api.post('/api/v1/auth/forgot-password', { email: t.admin.email });
      assert.equal(forgot.status, 200);
      const token = issued.get(t.admin.user.id);
      assert.ok(token, 'a reset token was delivered');
      const stored = await svc.deps.db.knex('password_resets').where({ user_id: t.admin.user.id });
      assert.equal(stored.length, 1);
      assert.ok(!JSON.stringify(stored).includes(token!), 'stored only hashed');

      const reset = await api.post('/api/v1/auth/reset-password', { token, password: 'a brand new secret' });
      assert.equal(reset.status, 200);
      assert.equal((await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).status, 401);
      assert.equal((await api.post('/api/v1/auth/login', { email: t.admin.email, password: 'a brand new secret' })).status, 200);
      assert.equal((await api.get('/api/v1/auth/profile', { token: session.access_token })).status, 401, 'old access token ended');
      assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: session.refresh_token })).status, 401, 'old refresh token revoked');

      const again = await api.post('/api/v1/auth/reset-password', { token, password: 'yet another secret' });
      assert.equal(again.status, 400);
      assert.equal(again.body.error.code, 'VALIDATION_ERROR');
      assert.equal(again.body.error.details.fields[0].field, 'token');
    });

    it('forgot-password answers the same for an unknown email and issues nothing', async () => {
      const svc = await startExtraService();
      const issued = captureResets(svc);
      const t = await createTestOrg({ svc });
      const api = await anonymous(svc);
      const known = await api.post('/api/v1/auth/forgot-password', { email: t.admin.email });
      const unknown = await api.post('/api/v1/auth/forgot-password', { email: `ghost-${Date.now()}@clinic.test` });
      assert.equal(unknown.status, 200);
      assert.deepEqual(unknown.body, { ...known.body });
      assert.equal(issued.size, 1);
      const bad = await api.post('/api/v1/auth/forgot-password', { email: 'not-an-email' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.details.fields[0].field, 'email');
    });

    it('without a delivery hook, logs the link at info with the user id and never the email', async () => {
      const lines: string[] = [];
      const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
      const config = testConfig({ LOG_LEVEL: 'info' });
      const svc = await startService({ config, db: await testDatabase(), logger: createLogger('info', sink), skipBootstrap: true });
      try {
        const t = await createTestOrg({ svc });
        const res = await anonymous(svc).then((api) => api.post('/api/v1/auth/forgot-password', { email: t.admin.email }));
        assert.equal(res.status, 200);
        const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'password reset link issued');
        assert.ok(line, 'the link was logged');
        assert.equal(line.level, 'info');
        assert.equal(line.user_id, t.admin.user.id);
        assert.match(line.reset_url, /\/reset-password\?token=pr_/);
        assert.ok(!lines.join('').includes(t.admin.email), 'the email address is never logged');
      } finally {
        await svc.stop();
      }
    });

    it('reset-password answers 400 naming token when expired or unknown, and password when too short', async () => {
      const clock = fixedClock(new Date());
      const svc = await startExtraService({ PASSWORD_RESET_TTL_MINUTES: '30' }, clock);
      const issued = captureResets(svc);
      const t = await createTestOrg({ svc });
      const api = await anonymous(svc);
      await api.post('/api/v1/auth/forgot-password', { email: t.admin.email });
      clock.advance(31 * 60_000);
      const expired = await api.post('/api/v1/auth/reset-password', { token: issued.get(t.admin.user.id), password: 'long enough pw' });
      assert.equal(expired.status, 400);
      assert.equal(expired.body.error.details.fields[0].field, 'token');
      const unknown = await api.post('/api/v1/auth/reset-password', { token: 'pr_unknown', password: 'long enough pw' });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.details.fields[0].field, 'token');
      const short = await api.post('/api/v1/auth/reset-password', { token: 'pr_unknown', password: 'short' });
      assert.equal(short.status, 400);
      assert.equal(short.body.error.details.fields[0].field, 'password');
      assert.equal((await api.post('/api/v1/auth/login', { email: t.admin.email, password: TEST_PASSWORD })).status, 200, 'password unchanged');
    });
  });

  describe('/auth/profile', () => {
    it('GET returns the caller; 401 without a token', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const res = await staff.client.get('/api/v1/auth/profile');
      assert.equal(res.status, 200);
      assert.equal(res.body.data.id, staff.user.id);
      assert.equal(res.body.data.role, 'staff');
      assert.ok(!res.body.data.permissions.includes('user.manage'));
      assert.equal((await (await anonymous()).get('/api/v1/auth/profile')).status, 401);
    });

    it('PUT updates the name and email; 409 when the email is taken', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const email = `renamed-${Date.now()}@clinic.test`;
      const res = await staff.client.put('/api/v1/auth/profile', { first_name: 'Maria', last_name: 'Puig', email });
      assert.equal(res.status, 200);
      assert.equal(res.body.data.name, 'Maria Puig');
      assert.equal(res.body.data.email, email);
      const taken = await staff.client.put('/api/v1/auth/profile', { email: t.admin.email });
      assert.equal(taken.status, 409);
      const bad = await staff.client.put('/api/v1/auth/profile', { email: 'nope', first_name: '' });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort(), ['email', 'first_name']);
    });

    it('PUT changes the password only with the right current_password, and ends sessions', async () => {
      const t = await createTestOrg();
      const staff = await createTestUser(t.svc, t.org.id, 'staff');
      const missing = await staff.client.put('/api/v1/auth/profile', { password: 'new password 1' });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.details.fields[0].field, 'current_password');
      const wrong = await staff.client.put('/api/v1/auth/profile', { password: 'new password 1', current_password: 'wrong' });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.error.details.fields[0].field, 'current_password');
      const ok = await staff.client.put('/api/v1/auth/profile', { password: 'new password 1', current_password: TEST_PASSWORD });
      assert.equal(ok.status, 200);
      assert.equal((await staff.client.get('/api/v1/auth/profile')).status, 401, 'the old access token ended');
      const api = await anonymous();
      assert.equal((await api.post('/api/v1/auth/login', { email: staff.email, password: TEST_PASSWORD })).status, 401);
      assert.equal((await api.post('/api/v1/auth/login', { email: staff.email, password: 'new password 1' })).status, 200);
    });
  });
});
