/** Prometheus metrics at /metrics: request counts and latency by route, the outbox, streamed calls, plus process metrics. */
import type { Context } from 'koa';
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import type { AppDeps } from '../deps.js';

export function createMetrics(deps: AppDeps) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'carechat_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'carechat_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });
  new Gauge({
    name: 'carechat_outbound_queued', help: 'Outbound messages waiting to be sent', registers: [registry],
    async collect() {
      const has = await deps.db.knex.schema.hasTable('messages');
      if (!has) return this.set(0);
      const row = await deps.db.knex('messages').where({ direction: 'outbound', status: 'queued' }).count<{ count: number }[]>('* as count').first();
      this.set(Number(row?.count ?? 0));
    },
  });
  voiceStreamMetrics(registry, deps);
  return {
    observe(ctx: Context, ms: number) {
      // The matched route template, never the concrete path: ids would explode cardinality.
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      requests.inc({ method: ctx.method, route, status: String(ctx.status) });
      latency.observe({ method: ctx.method, route }, ms / 1000);
    },
    async handler(ctx: Context) {
      ctx.type = registry.contentType;
      ctx.body = await registry.metrics();
    },
  };
}

/** Calls heard over Media Streams (read from the stream server when it is on): a rise in fallbacks means the speech service is failing. */
function voiceStreamMetrics(registry: Registry, deps: AppDeps): void {
  const read = () => deps.hooks.voiceStreams?.();
  new Gauge({ name: 'carechat_voice_streams_open', help: 'Calls heard over a Media Stream on this instance now', registers: [registry], collect() { this.set(read()?.open ?? 0); } });
  const totals = [
    ['carechat_voice_streams_total', 'Media Streams opened by Twilio', 'opened'],
    ['carechat_voice_stream_utterances_total', 'Utterances of callers sent to speech to text', 'utterances'],
    ['carechat_voice_stream_not_heard_total', 'Utterances the speech to text gave no words for', 'notHeard'],
    ['carechat_voice_stream_fallbacks_total', "Streamed calls handed to Twilio's recognizer because our speech service failed", 'fallbacks'],
  ] as const;
  for (const [name, help, key] of totals) {
    // The server counts; a scrape reads its total.
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()?.[key] ?? 0); } });
  }
}
