import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestOrg, TEST_PASSWORD } from '../support/factories.js';
import { startExtraService } from '../support/service.js';
import { ApiClient, type ApiResponse } from '../support/client.js';
import type { RunningService } from '../../main.js';

let ipCounter = 0;
/** A fresh client address per call (the app trusts X-Forwarded-For from its proxy). */
const freshIp = () => `203.0.113.${(ipCounter = (ipCounter % 250) + 1)}`;

async function limitedService(): Promise<RunningService> {
  return startExtraService({ RATE_LIMITS_ENABLED: 'true' });
}

function login(svc: RunningService, body: Record<string, string>, ip: string): Promise<ApiResponse> {
  return new ApiClient(svc.url).post('/api/v1/auth/login', body, { headers: { 'X-Forwarded-For': ip } });
}

function assertRateLimited(res: ApiResponse): void {
  assert.equal(res.status, 429);
  assert.equal(res.body.success, false);
  assert.equal(res.body.error.code, 'RATE_LIMIT_EXCEEDED');
  assert.equal(res.headers.get('x-ratelimit-limit'), '5');
  assert.equal(res.headers.get('x-ratelimit-remaining'), '0');
  const reset = Number(res.headers.get('x-ratelimit-reset'));
  assert.ok(reset > Date.now() / 1000 - 1, 'X-RateLimit-Reset is a future epoch second');
  assert.ok(Number(res.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
}

describe('rate limits on /api/v1/auth', () => {
  it('the 6th login attempt within a minute from one IP answers 429 with the rate-limit headers', async () => {
    const svc = await limitedService();
    const t = await createTestOrg({ svc });
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      // Different accounts, so only the per-IP budget is spent.
      const res = await login(svc, { email: `nobody-${i}@clinic.test`, password: 'wrong' }, ip);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-ratelimit-limit'), '5');
    }
    const sixth = await login(svc, { email: t.admin.email, password: TEST_PASSWORD }, ip);
    assertRateLimited(sixth);
    assert.equal((await login(svc, { email: t.admin.email, password: TEST_PASSWORD }, freshIp())).status, 200, 'another IP is not limited');
  });

  it('locks an account after 5 failed logins in 15 minutes, even from many IPs and with the right password', async () => {
    const svc = await limitedService();
    const t = await createTestOrg({ svc });
    for (let i = 0; i < 5; i++) {
      assert.equal((await login(svc, { email: t.admin.email, password: `wrong ${i}` }, freshIp())).status, 401);
    }
    const locked = await login(svc, { email: t.admin.email, password: TEST_PASSWORD }, freshIp());
    assertRateLimited(locked);
    assert.ok(Number(locked.headers.get('retry-after')) > 60, 'the lockout lasts up to 15 minutes, not one');
    const byForm = await new ApiClient(svc.url).request('POST', '/api/v1/auth/token', {
      form: { username: t.admin.email, password: TEST_PASSWORD }, headers: { 'X-Forwarded-For': freshIp() },
    });
    assert.equal(byForm.status, 429, 'the token form shares the account budget');
    const other = await createTestOrg({ svc });
    assert.equal((await login(svc, { email: other.admin.email, password: TEST_PASSWORD }, freshIp())).status, 200, 'other accounts are unaffected');
  });

  it('a successful login clears the failed-attempt count of the account', async () => {
    const svc = await limitedService();
    const t = await createTestOrg({ svc });
    for (let i = 0; i < 4; i++) await login(svc, { email: t.admin.email, password: 'wrong' }, freshIp());
    assert.equal((await login(svc, { email: t.admin.email, password: TEST_PASSWORD }, freshIp())).status, 200);
    for (let i = 0; i < 4; i++) {
      assert.equal((await login(svc, { email: t.admin.email, password: 'wrong' }, freshIp())).status, 401, `failure ${i + 1} after the success`);
    }
  });

  it('refresh, forgot-password and reset-password share the per-IP auth budget', async () => {
    const svc = await limitedService();
    const api = new ApiClient(svc.url);
    const ip = freshIp();
    const headers = { 'X-Forwarded-For': ip };
    assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: 'rt_x' }, { headers })).status, 401);
    assert.equal((await api.post('/api/v1/auth/refresh', { refresh_token: 'rt_y' }, { headers })).status, 401);
    assert.equal((await api.post('/api/v1/auth/forgot-password', { email: 'a@clinic.test' }, { headers })).status, 200);
    assert.equal((await api.post('/api/v1/auth/forgot-password', { email: 'b@clinic.test' }, { headers })).status, 200);
    assert.equal((await api.post('/api/v1/auth/reset-password', { token: 'pr_x', password: 'long enough' }, { headers })).status, 400);
    assertRateLimited(await api.post('/api/v1/auth/reset-password', { token: 'pr_x', password: 'long enough' }, { headers }));
    assertRateLimited(await api.post('/api/v1/auth/refresh', { refresh_token: 'rt_z' }, { headers }));
  });

  it('the shared test service has rate limits off', async () => {
    const t = await createTestOrg();
    const ip = freshIp();
    for (let i = 0; i < 7; i++) {
      assert.equal((await login(t.svc, { email: t.admin.email, password: 'wrong' }, ip)).status, 401);
    }
  });
});

describe('rate limits shared through Redis (REDIS_URL)', () => {
  it('two instances on one Redis share a client budget: 3 attempts on each, the 6th answers 429', async () => {
    const redis = { RATE_LIMITS_ENABLED: 'true', REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' };
    const a = await startExtraService(redis);
    const b = await startExtraService(redis);
    // A never-seen address, so counts left in Redis by earlier runs cannot matter.
    const ip = `2001:db8::${randomBytes(6).toString('hex').match(/.{4}/g)!.join(':')}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await login(i % 2 ? b : a, { email: `redis-${i}-${Date.now()}@clinic.test`, password: 'wrong' }, ip);
      statuses.push(res.status);
      if (i === 5) assertRateLimited(res);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  });
});
