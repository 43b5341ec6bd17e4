/**
 * One database and one running service for the whole test run: PGlite in
 * memory by default, PostgreSQL when DATABASE_URL is set. Every test makes its
 * own organization, so tests never share mutable records.
 */
import { loadConfig, type Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { openDatabase, type Database } from '../../models/db.js';
import { parseKeyRing } from '../../lib/encryption.js';
import { startService, type RunningService } from '../../main.js';
import { fixedClock, type Clock } from '../../lib/clock.js';

let dbPromise: Promise<Database> | null = null;
let servicePromise: Promise<RunningService> | null = null;
const extra: RunningService[] = [];

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    RATE_LIMITS_ENABLED: 'false',
    // Tests vary X-Forwarded-For to act as different clients.
    TRUST_PROXY: 'true',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123456789',
    DISPATCH_POLL_MS: '200',
    // No background reminder ticks: a service left running with a fixed clock would treat every
    // organization's reminders as due or past. Reminder tests call the tick themselves.
    REMINDER_TICK: '0 0 0 1 1 *',
    // Nor idle closing, for the same reason: tests close idle conversations by calling the tick.
    IDLE_CLOSE_TICK: '0 0 0 1 1 *',
    // Webhook retries likewise; new deliveries still go out at once (NOTIFY), as in production.
    WEBHOOK_TICK: '0 0 0 1 1 *',
    WEBHOOK_TIMEOUT_MS: '2000',
    // Housekeeping too: a service with a fixed clock would delete what other tests just wrote.
    HOUSEKEEPING_TICK: '0 0 0 1 1 *',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...overrides,
  });
}

/**
 * The test run's key ring (fixed keys, so a failure reproduces): every test stores message content sealed,
 * as production does, and reads it back opened.
 */
export const TEST_ENCRYPTION_KEYS = `test2:${Buffer.alloc(32, 2).toString('base64')},test1:${Buffer.alloc(32, 1).toString('base64')}`;

export function testDatabase(): Promise<Database> {
  dbPromise ??= openDatabase({ url: process.env.DATABASE_URL, dataDir: 'memory://', poolMax: 20, keyRing: parseKeyRing(TEST_ENCRYPTION_KEYS) });
  return dbPromise;
}

/** The shared service (rate limits off, real clock). */
export function testService(): Promise<RunningService> {
  servicePromise ??= (async () => {
    const config = testConfig();
    return startService({ config, db: await testDatabase(), logger: createLogger(config.LOG_LEVEL), skipBootstrap: true });
  })();
  return servicePromise;
}

/** A separate service on the same database with its own settings (rate limits on, a fixed clock...). */
export async function startExtraService(overrides: Record<string, string> = {}, clock?: Clock): Promise<RunningService> {
  const config = testConfig(overrides);
  const svc = await startService({ config, db: await testDatabase(), logger: createLogger(config.LOG_LEVEL), skipBootstrap: true, clock });
  extra.push(svc);
  return svc;
}

export { fixedClock };

export async function stopAll(): Promise<void> {
  for (const svc of extra.splice(0)) await svc.stop();
  if (servicePromise) await (await servicePromise).stop();
  if (dbPromise) await (await dbPromise).close();
  servicePromise = null;
  dbPromise = null;
}
