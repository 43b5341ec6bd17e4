/**
 * Composition root: config -> database -> engine -> channels -> API -> schedulers,
 * and graceful shutdown. `startService` is what tests and benchmarks start too.
 */
import fs from 'node:fs';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from './lib/config.js';
import { createLogger, type Logger } from './lib/logger.js';
import { systemClock, type Clock } from './lib/clock.js';
import { openDatabase, type Database } from './models/db.js';
import { bootstrap } from './models/bootstrap.js';
import { createTokenService, loadSigningKey } from './models/tokens.js';
import { createApp } from './api/app.js';
import { createRateLimits } from './api/http/rateLimit.js';
import type { AppDeps } from './api/deps.js';
import { unauthorized } from './lib/errors.js';

export interface StartOptions {
  config?: Config;
  /** An already open database (tests share one); closed by the caller, not by the service. */
  db?: Database;
  logger?: Logger;
  clock?: Clock;
  /** Skip bootstrap (tests create their own organizations). */
  skipBootstrap?: boolean;
}

export interface RunningService {
  url: string;
  port: number;
  deps: AppDeps;
  server: http.Server;
  stop(): Promise<void>;
}

export async function startService(opts: StartOptions = {}): Promise<RunningService> {
  const config = opts.config ?? loadConfig();
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? systemClock;
  const ownsDb = !opts.db;
  const db = opts.db ?? (await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR }));
  logger.info({ backend: db.kind }, 'database ready, migrations applied');

  if (!opts.skipBootstrap) {
    const result = await bootstrap(db.knex, {
      orgName: config.ORG_NAME, timeZone: config.ORG_TIMEZONE, adminEmail: config.ADMIN_EMAIL,
      adminPassword: config.ADMIN_PASSWORD, seedDemo: config.seedDemo,
    });
    if (result.created) {
      logger.info({ organization_id: result.organizationId, demo: config.seedDemo }, 'created the first organization');
      if (result.generatedPassword) {
        // Printed once on purpose, on stdout rather than the log stream, so an operator sees it.
        process.stdout.write(`\n  CareChat admin login (shown once):\n    email:    ${config.ADMIN_EMAIL}\n    username: admin\n    password: ${result.generatedPassword}\n\n`);
      }
    }
  }

  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: false }) : null;
  const tokens = createTokenService(await loadSigningKey(db.knex, config.JWT_SECRET), config.ACCESS_TOKEN_TTL_SECONDS, () => clock.now());
  const deps: AppDeps = {
    config, db, logger, clock, tokens,
    rateLimits: createRateLimits({ enabled: config.RATE_LIMITS_ENABLED, redis }),
    hooks: {},
    startedAt: new Date(),
    unauthorized: () => unauthorized(),
  };

  const { app } = createApp(deps);
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  logger.info({ port }, 'CareChat is listening');

  let stopping: Promise<void> | null = null;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      // Stop accepting, let in-flight requests finish, then drop idle keep-alive sockets.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(force);
      await redis?.quit().catch(() => undefined);
      if (ownsDb) await db.close();
      logger.info('stopped');
    })();
    return stopping;
  }

  return { url, port, deps, server, stop };
}

async function main(): Promise<void> {
  // A local .env is optional; real deployments set the environment directly.
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  const service = await startService({ config });
  const onSignal = (signal: string) => {
    service.deps.logger.info({ signal }, 'shutting down');
    service.stop().then(() => process.exit(0), (err) => {
      service.deps.logger.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`CareChat failed to start: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
