/** Health, readiness and the OpenAPI document (Attune, VAANI, Mark). */
import { z } from 'zod';
import { route } from '../http/route.js';
import { buildOpenApiDocument } from '../http/openapi.js';
import type { AppDeps } from '../deps.js';
import { encryptionStatus } from '../../models/encryption.js';
import { encryptionStatusSchema, presentEncryptionStatus } from '../presenters/encryption.js';

async function databaseCheck(deps: AppDeps): Promise<{ status: 'ok' | 'error'; response_time_ms: number; backend: string }> {
  const start = process.hrtime.bigint();
  try {
    await deps.db.knex.raw('select 1');
    return { status: 'ok', response_time_ms: Number(process.hrtime.bigint() - start) / 1e6, backend: deps.db.kind };
  } catch {
    return { status: 'error', response_time_ms: Number(process.hrtime.bigint() - start) / 1e6, backend: deps.db.kind };
  }
}

const healthSchema = z.object({ status: z.enum(['ok', 'degraded']), timestamp: z.string(), version: z.string() });
const detailedSchema = healthSchema.extend({
  uptime_seconds: z.number(),
  checks: z.object({ database: z.object({ status: z.enum(['ok', 'error']), response_time_ms: z.number(), backend: z.string() }) }),
  memory: z.object({ rss_bytes: z.number(), heap_used_bytes: z.number() }),
});

export const VERSION = '0.1.0';

export const systemRoutes = [
  route({
    method: 'get', path: '/health', operationId: 'health', summary: 'Liveness', tag: 'system', auth: 'none',
    response: healthSchema,
    handler: async ({ deps }) => ({ data: { status: 'ok' as const, timestamp: deps.clock.now().toISOString(), version: VERSION } }),
  }),
  route({
    method: 'get', path: '/health/detailed', operationId: 'healthDetailed', summary: 'Health with database round-trip time', tag: 'system', auth: 'none',
    response: detailedSchema, errors: [503],
    handler: async ({ deps, ctx }) => {
      const database = await databaseCheck(deps);
      const mem = process.memoryUsage();
      const status = database.status === 'ok' ? 'ok' as const : 'degraded' as const;
      return {
        status: status === 'ok' ? 200 : 503,
        data: {
          status, timestamp: deps.clock.now().toISOString(), version: VERSION,
          uptime_seconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
          checks: { database }, memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed },
        },
        ...(ctx ? {} : {}),
      };
    },
  }),
  route({
    method: 'get', path: '/openapi.json', operationId: 'openapi', summary: 'This OpenAPI document', tag: 'system', auth: 'none',
    raw: true, response: z.record(z.string(), z.unknown()),
    handler: async ({ ctx }) => {
      ctx.body = buildOpenApiDocument();
    },
  }),
];

export const adminHealthRoutes = [
  route({
    method: 'get', path: '/admin/health', operationId: 'adminHealth', summary: 'Public health summary (VAANI)', tag: 'system', auth: 'none',
    response: z.object({ status: z.enum(['healthy', 'unhealthy']), database: z.enum(['connected', 'disconnected']), timestamp: z.string(), version: z.string() }),
    handler: async ({ deps }) => {
      const database = await databaseCheck(deps);
      return {
        status: database.status === 'ok' ? 200 : 503,
        data: { status: database.status === 'ok' ? 'healthy' as const : 'unhealthy' as const, database: database.status === 'ok' ? 'connected' as const : 'disconnected' as const, timestamp: deps.clock.now().toISOString(), version: VERSION },
      };
    },
  }),
  route({
    method: 'get', path: '/system/status', operationId: 'systemStatus', summary: 'Status of the service and each of its components (Mark Assistant)', tag: 'system',
    permission: 'system.view', rateLimit: 'admin',
    response: z.object({
      status: z.enum(['operational', 'degraded']),
      version: z.string(),
      uptime: z.number().describe('Seconds since this instance started'),
      last_restart: z.string(),
      components: z.array(z.object({ name: z.string(), status: z.enum(['operational', 'degraded', 'down', 'disabled']), detail: z.string().optional() })),
    }),
    handler: async ({ deps }) => {
      const database = await databaseCheck(deps);
      const components: Array<{ name: string; status: 'operational' | 'degraded' | 'down' | 'disabled'; detail?: string }> = [
        { name: 'api', status: 'operational' },
        { name: 'database', status: database.status === 'ok' ? 'operational' : 'down', detail: `${database.backend}, ${database.response_time_ms.toFixed(1)} ms` },
        { name: 'understanding', status: 'operational', detail: deps.config.OPENAI_API_KEY || deps.config.OPENAI_BASE_URL ? `llm (${deps.config.OPENAI_MODEL}) with rules fallback` : 'rules' },
      ];
      for (const c of deps.hooks.channelStatus?.() ?? []) {
        components.push({ name: `channel_${c.name}`, status: !c.enabled ? 'disabled' : c.status === 'up' ? 'operational' : 'down', ...(c.detail ? { detail: c.detail } : {}) });
      }
      const healthy = components.every((c) => c.status === 'operational' || c.status === 'disabled');
      return {
        data: {
          status: healthy ? 'operational' as const : 'degraded' as const,
          version: VERSION,
          uptime: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
          last_restart: deps.startedAt.toISOString(),
          components,
        },
      };
    },
  }),
  route({
    method: 'get', path: '/system/encryption/status', operationId: 'encryptionStatus', tag: 'system',
    summary: 'Encryption at rest of message content: the key ring in service, its rotation, and how much of the organization is sealed (Mark Assistant)',
    permission: 'system.view', rateLimit: 'admin',
    response: encryptionStatusSchema,
    handler: async ({ deps, orgId }) => ({
      data: presentEncryptionStatus(await encryptionStatus(deps.db.knex, { organizationId: orgId }), deps.config.ENCRYPTION_KEY_ROTATION_DAYS),
    }),
  }),
];
