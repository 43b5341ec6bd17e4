import assert from 'node:assert/strict';
import { testService } from '../support/service.js';
import { ApiClient } from '../support/client.js';
import { launchBrowser, newPage } from '../support/browser.js';

interface Doc { openapi: string; paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; security?: unknown[] }>> }

describe('/openapi.json and /docs', () => {
  it('GET /openapi.json describes every route of the API with a unique operation id and a success response', async () => {
    const svc = await testService();
    const res = await new ApiClient(svc.url).get<Doc>('/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(res.body.openapi, '3.1.0');
    const ids = new Set<string>();
    let operations = 0;
    for (const [path, methods] of Object.entries(res.body.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        operations++;
        assert.ok(op.operationId, `${method} ${path} has an operationId`);
        assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} is unique`);
        ids.add(op.operationId);
        assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${method} ${path} documents a success response`);
      }
    }
    // The resources the core issue names are all there.
    for (const p of ['/api/v1/auth/login', '/api/v1/patients/{id}', '/api/v1/doctors/{id}/schedule', '/api/v1/appointments/available-slots', '/api/v1/appointments/{id}/no-show', '/api/v1/api-keys', '/api/v1/users/{id}', '/health/detailed', '/api/v1/admin/health']) {
      assert.ok(res.body.paths[p], `${p} is documented`);
    }
    assert.ok(operations > 50, `${operations} operations`);
    assert.equal(res.body.paths['/api/v1/patients'].get.security?.length, 1, 'authenticated routes declare bearer security');
  });

  it('GET /docs renders the document in a real browser, without external requests', async function () {
    this.timeout(60_000);
    const svc = await testService();
    const browser = await launchBrowser();
    try {
      const { page, foreignRequests, pageErrors } = await newPage(browser, svc.url);
      await page.goto(`${svc.url}/docs`);
      await page.getByText('CareChat API').first().waitFor({ timeout: 20_000 });
      await page.getByText('/api/v1/appointments/available-slots').first().waitFor({ timeout: 20_000 });
      assert.deepEqual(foreignRequests, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
    }
  });

  it('GET /metrics answers in the Prometheus text format with request counters by route', async () => {
    const svc = await testService();
    await fetch(`${svc.url}/health`);
    const res = await fetch(`${svc.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /# TYPE carechat_http_requests_total counter/);
    assert.match(text, /carechat_http_requests_total\{method="GET",route="\/health",status="200"\} \d+/);
    assert.match(text, /process_resident_memory_bytes/);
  });

  it('every response carries X-Request-ID, echoing a sane one the client sent; errors carry it in the envelope', async () => {
    const svc = await testService();
    const client = new ApiClient(svc.url);
    const mine = await client.get('/api/v1/patients', { headers: { 'X-Request-ID': 'req-abc.123' } });
    assert.equal(mine.headers.get('x-request-id'), 'req-abc.123');
    assert.equal(mine.status, 401);
    assert.equal(mine.body.request_id, 'req-abc.123');
    const generated = await client.get('/health', { headers: { 'X-Request-ID': 'bad id with spaces' } });
    assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const unknown = await client.get('/api/v1/nothing-here', { raw: true });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'NOT_FOUND');
    const malformed = await fetch(`${svc.url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"email": ' });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, 'VALIDATION_ERROR');
  });
});

describe('GET /api/v1/system/status', () => {
  it('reports each component, with the SMS channel disabled without credentials; staff may read it, a provider may not', async () => {
    const { createTestOrg, createTestUser } = await import('../support/factories.js');
    const t = await createTestOrg();
    const res = await t.admin.client.get('/api/v1/system/status');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.status, 'operational');
    const byName = Object.fromEntries((res.body.data.components as Array<{ name: string; status: string }>).map((c) => [c.name, c.status]));
    assert.equal(byName.database, 'operational');
    assert.equal(byName.channel_webchat, 'operational');
    assert.equal(byName.channel_sms, 'disabled');
    const staff = await createTestUser(t.svc, t.org.id, 'staff');
    assert.equal((await staff.client.get('/api/v1/system/status')).status, 200);
    const provider = await createTestUser(t.svc, t.org.id, 'provider');
    assert.equal((await provider.client.get('/api/v1/system/status')).status, 403);
  });
});
