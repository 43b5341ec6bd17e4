/**
 * A Telegram clinic end to end, for the suites of the Telegram channel: the
 * fake Bot API, a clinic of its own per test whose bot a new service serves
 * (webhook mode, on the shared test database), and updates posted to the
 * webhook as Telegram posts them. Call it inside a `describe`: it installs
 * the hooks that start and stop everything.
 */
import assert from 'node:assert/strict';
import type { Update } from 'grammy/types';
import { startService, type RunningService } from '../../main.js';
import { createLogger } from '../../lib/logger.js';
import { fixedClock } from '../../lib/clock.js';
import { testConfig, testDatabase, testService } from './service.js';
import { buildClinic, NOW, type Clinic } from '../bot/engineSupport.js';
import { FakeTelegram, FAKE_TELEGRAM_SECRET, newBotToken, postUpdate, textUpdate, type FakeSentMessage, type TelegramUser } from './fakeTelegram.js';

const NEVER = '0 0 0 1 1 *';
export const TELEGRAM_PUBLIC_URL = 'https://carechat.example.test';

export interface TelegramClinic { svc: RunningService; token: string; clinic: Clinic }

export interface TelegramHarness {
  /** The fake Bot API (started in `before`). */
  readonly fake: FakeTelegram;
  /** A clinic (with these settings) and a service serving its bot (with these environment settings on top); stopped after the test. */
  startTelegram(settings?: Record<string, unknown>, env?: Record<string, string>): Promise<TelegramClinic>;
  /** Posts an update to the webhook (200 expected) and returns the `n` replies it brought. */
  exchange(svc: RunningService, user: TelegramUser, update: Update, n?: number): Promise<FakeSentMessage[]>;
  /** The user writes `text`; returns the `n` replies. */
  say(svc: RunningService, user: TelegramUser, text: string, n?: number): Promise<FakeSentMessage[]>;
}

export function telegramHarness(): TelegramHarness {
  let fake: FakeTelegram | null = null;
  const running: RunningService[] = [];
  before(async function () {
    this.timeout(60_000);
    await testService();
    fake = await new FakeTelegram().start();
  });
  afterEach(async () => {
    fake?.reset();
    for (const svc of running.splice(0)) await svc.stop();
  });
  after(async () => {
    await fake?.stop();
  });
  const theFake = (): FakeTelegram => {
    if (!fake) throw new Error('the fake Bot API is not started (use the harness inside a describe)');
    return fake;
  };

  const harness: TelegramHarness = {
    get fake() { return theFake(); },
    async startTelegram(settings = {}, env = {}) {
      const token = newBotToken();
      const clinic = await buildClinic(await testService(), { telegram_bot_id: token.split(':')[0], quiet_hours: null, ...settings });
      const config = testConfig({
        TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: theFake().url, TELEGRAM_WEBHOOK_SECRET: FAKE_TELEGRAM_SECRET,
        PUBLIC_URL: TELEGRAM_PUBLIC_URL, REMINDER_TICK: NEVER, DISPATCH_POLL_MS: '50', ...env,
      });
      const svc = await startService({
        config, db: await testDatabase(), logger: createLogger(config.LOG_LEVEL), skipBootstrap: true,
        organizationIds: [clinic.org.id], clock: fixedClock(NOW),
      });
      running.push(svc);
      return { svc, token, clinic };
    },
    async exchange(svc, user, update, n = 1) {
      const before = theFake().to(user.id).length;
      assert.equal((await postUpdate(svc.url, update)).status, 200);
      return (await theFake().waitFor(user.id, before + n)).slice(before);
    },
    say(svc, user, text, n = 1) {
      return harness.exchange(svc, user, textUpdate(theFake(), user, text), n);
    },
  };
  return harness;
}
