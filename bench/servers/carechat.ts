/** CareChat itself, as the benchmark runs it: PostgreSQL, message content sealed, rate limits off, quiet logs. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { startService } from '../../main.js';
import { BENCH_ENCRYPTION_KEYS } from '../lib.js';

const config = loadConfig({ ENCRYPTION_KEYS: BENCH_ENCRYPTION_KEYS, ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMITS_ENABLED: 'false', SEED_DEMO: 'false' });
const svc = await startService({ config, skipBootstrap: true });

// BENCH_QUERY_STATS_DIR=/tmp/qs writes, when the server stops, each statement's count and time as the pool saw it
// (waiting for a connection included), keyed by its first words: which statements a turn runs, and how often;
// and plans-<pid>.json, how often each connection planned its named statements generically or per execution.
const statsDir = process.env.BENCH_QUERY_STATS_DIR;
const stats = new Map<string, { count: number; ms: number }>();
if (statsDir) {
  const started = new Map<string, number>();
  const knex = svc.deps.db.knex;
  knex.on('query', (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, performance.now()));
  knex.on('query-response', (_r: unknown, q: { __knexQueryUid: string; sql: string }) => {
    const key = q.sql.replace(/\s+/g, ' ').slice(0, 90);
    const s = stats.get(key) ?? { count: 0, ms: 0 };
    s.count++;
    s.ms += performance.now() - (started.get(q.__knexQueryUid) ?? performance.now());
    started.delete(q.__knexQueryUid);
    stats.set(key, s);
  });
}

process.stdout.write(`LISTENING ${svc.port}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    if (statsDir) {
      writeFileSync(path.join(statsDir, `queries-${process.pid}.json`), JSON.stringify(Object.fromEntries(stats), null, 1));
      // How each connection's named statements were planned: custom plans are planned again at every execution.
      const client = svc.deps.db.knex.client as unknown as { pool: { max: number }; acquireConnection(): Promise<{ query(sql: string): Promise<{ rows: unknown[] }> }>; releaseConnection(c: unknown): Promise<void> };
      const conns = await Promise.all(Array.from({ length: client.pool.max }, () => client.acquireConnection()));
      const plans = [];
      for (const c of conns) plans.push(...(await c.query('SELECT generic_plans, custom_plans, left(regexp_replace(statement, \'\\s+\', \' \', \'g\'), 90) AS statement FROM pg_prepared_statements')).rows);
      await Promise.all(conns.map((c) => client.releaseConnection(c)));
      writeFileSync(path.join(statsDir, `plans-${process.pid}.json`), JSON.stringify(plans, null, 1));
    }
    await svc.stop();
    process.exit(0);
  })();
});
