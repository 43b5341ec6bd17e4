/**
 * A service on the shared test database that sends SMS through a fake Twilio,
 * working only on the given organizations' outbound messages and reminders (so
 * services started by other tests never take its work, nor it theirs).
 */
import { randomBytes } from 'node:crypto';
import { startService, type RunningService } from '../../main.js';
import { createLogger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import { testConfig, testDatabase } from './service.js';
import { ApiClient } from './client.js';
import { createTestOrg, type TestOrg } from './factories.js';
import { twilioEnv, type FakeTwilio } from './fakeTwilio.js';

const running: RunningService[] = [];

/** A cron expression that never comes up during a test run: tests call the reminder tick themselves. */
export const NEVER = '0 0 0 1 1 *';

export async function startSmsService(fake: FakeTwilio | null, organizationIds: string[], opts: { clock?: Clock; env?: Record<string, string>; leaseSeconds?: number } = {}): Promise<RunningService> {
  const config = testConfig({ ...(fake ? twilioEnv(fake) : {}), REMINDER_TICK: NEVER, DISPATCH_POLL_MS: '50', ACCESS_TOKEN_TTL_SECONDS: String(366 * 24 * 3600), ...(opts.env ?? {}) });
  const svc = await startService({
    config, db: await testDatabase(), logger: createLogger(config.LOG_LEVEL), skipBootstrap: true, clock: opts.clock,
    organizationIds, leaseSeconds: opts.leaseSeconds,
  });
  running.push(svc);
  return svc;
}

export async function stopSmsServices(): Promise<void> {
  for (const svc of running.splice(0)) await svc.stop();
}

/** A Twilio number of its own for an organization (settings.sms_number routes inbound messages to it). */
export const uniqueTwilioNumber = () => `+1415${String(1_000_000 + (randomBytes(3).readUIntBE(0, 3) % 9_000_000)).slice(-7)}`;

/** An organization with its own SMS number, and its admin's client pointed at `svc`. */
export async function smsOrg(opts: { timeZone?: string; settings?: Record<string, unknown> } = {}): Promise<TestOrg & { smsNumber: string }> {
  const smsNumber = uniqueTwilioNumber();
  const t = await createTestOrg({ timeZone: opts.timeZone, settings: { sms_number: smsNumber, ...(opts.settings ?? {}) } });
  return { ...t, smsNumber };
}

/** The admin's client on another service of the same database, with a token from that service's clock (a fixed clock in 2031 would find the shared one expired). */
export async function clientOn(svc: RunningService, t: TestOrg): Promise<ApiClient> {
  const u = t.admin.user;
  const { token } = await svc.deps.tokens.signAccess({ sub: u.id, org: t.org.id, role: u.role, ver: u.token_version });
  return new ApiClient(svc.url, token);
}
