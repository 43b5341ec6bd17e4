/** A WhatsApp-routed organization and its service, for the WhatsApp channel tests; waits on message rows. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningService } from '../../main.js';
import { createTestOrg, type TestOrg } from './factories.js';
import { startSmsService, stopSmsServices } from './smsService.js';
import { testService } from './service.js';
import { FakeWhatsApp, uniquePhoneNumberId, whatsappEnv } from './fakeWhatsApp.js';
import type { Clock } from '../../lib/clock.js';
import { Message } from '../../models/messages.js';

/** An organization with its own WhatsApp phone number id (and `settings`), and a service sending through the fake. */
export async function setupWhatsAppOrg(fake: FakeWhatsApp, clock?: Clock, settings: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<{ t: TestOrg; svc: RunningService; pnid: string }> {
  const pnid = uniquePhoneNumberId();
  const t = await createTestOrg({ settings: { whatsapp_phone_number_id: pnid, quiet_hours: null, ...settings } });
  const svc = await startSmsService(null, [t.org.id], { env: whatsappEnv(fake, env), clock });
  return { t, svc, pnid };
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(25);
  }
}

export async function waitForStatus(svc: RunningService, id: string, status: string): Promise<{ status: string; last_error: string; attempts: number }> {
  let row: { status: string; last_error: string; attempts: number } | undefined;
  await waitUntil(async () => (row = await svc.deps.db.knex('messages').where({ id }).first())?.status === status);
  return row!;
}

/**
 * The suite's hooks: the shared service, one fake Graph API for the suite,
 * the WhatsApp services stopped and the fake reset after each test. Read
 * `.fake` inside tests. Also the suite's inbound rows by wamid.
 */
export function withFakeWhatsApp(): { fake: FakeWhatsApp } {
  const suite = {} as { fake: FakeWhatsApp };
  before(async function () {
    this.timeout(60_000);
    await testService();
    suite.fake = await new FakeWhatsApp().start();
  });
  afterEach(async () => {
    suite.fake.ok();
    await stopSmsServices();
  });
  after(async () => {
    await suite.fake.stop();
  });
  return suite;
}

/** The inbound rows stored for a wamid. */
export const inboundRows = (svc: RunningService, wamid: string) =>
  Message.query(svc.deps.db.knex).where({ channel: 'whatsapp', direction: 'inbound', provider_message_id: wamid });
