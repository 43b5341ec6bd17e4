/**
 * Exactly once across instances and crashes: two services claim the same
 * reminders and the same bulk batch from one database; every recipient gets
 * one message at the (fake) provider. On PostgreSQL the services are separate
 * processes and one is SIGKILLed mid-batch and restarted; on PGlite (one
 * connection, one process) the same scenario runs with two in-process services.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { testConfig, testService } from '../support/service.js';
import { buildDoctor, createTestOrg, type TestOrg } from '../support/factories.js';
import { FakeTwilio, twilioEnv } from '../support/fakeTwilio.js';
import { clientOn, startSmsService, stopSmsServices } from '../support/smsService.js';
import { ApiClient } from '../support/client.js';
import { newId } from '../../lib/ids.js';
import { TwilioSmsAdapter } from '../../channels/sms/adapter.js';
import { createLogger } from '../../lib/logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REMINDERS = 500;
const BULK = 2000;

interface Instance { child: ChildProcess; url: string }

async function spawnInstance(fake: FakeTwilio, orgId: string): Promise<Instance> {
  const env = {
    ...process.env, ...twilioEnv(fake, { SMS_RATE_PER_SECOND: '5000' }),
    DATABASE_URL: process.env.DATABASE_URL!, JWT_SECRET: testConfig().JWT_SECRET!, LOG_LEVEL: 'silent', RATE_LIMITS_ENABLED: 'false',
    REMINDER_TICK: '* * * * * *', DISPATCH_POLL_MS: '100', ORG_IDS: orgId, LEASE_SECONDS: '3', NODE_ENV: 'test',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/instanceProcess.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /LISTENING (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`instance exited with ${code} before listening`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

async function terminate(i: Instance, signal: NodeJS.Signals): Promise<void> {
  if (i.child.exitCode !== null || i.child.signalCode !== null) return;
  const exited = once(i.child, 'exit');
  i.child.kill(signal);
  await exited;
}

/** 500 due reminders (one appointment each) and 2,000 more patients for the bulk send, inserted in bulk. */
async function seed(knex: Knex, t: TestOrg): Promise<{ reminderPhones: string[]; bulkIds: string[]; bulkPhones: string[] }> {
  const tag = randomBytes(3).toString('hex').toUpperCase();
  const prefix = `+3469${String(randomBytes(2).readUInt16BE(0) % 100).padStart(2, '0')}`;
  const total = REMINDERS + BULK;
  const patients = (await knex.raw(
    `INSERT INTO patients (id, organization_id, name, phone, preferred_language)
     SELECT 'pat_M' || ? || lpad(g::text, 6, '0'), ?, 'Patient ' || g, ? || lpad(g::text, 5, '0'), 'es'
     FROM generate_series(1, ?) g RETURNING id, phone`,
    [tag, t.org.id, prefix, total],
  )) as { rows: { id: string; phone: string }[] };
  const rows = patients.rows.sort((a, b) => (a.id < b.id ? -1 : 1));
  const doctor = await buildDoctor(t, { name: 'Dr. García' });
  const now = Date.now();
  const reminderRows = rows.slice(0, REMINDERS);
  await knex.raw(
    `INSERT INTO appointments (id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, status)
     SELECT 'apt_M' || ? || lpad(g::text, 6, '0'), ?, (?::text[])[g], ?, to_timestamp(? / 1000.0) + (g * interval '30 minutes'),
       to_timestamp(? / 1000.0) + (g * interval '30 minutes') + interval '30 minutes', 30, 'scheduled'
     FROM generate_series(1, ?) g`,
    [tag, t.org.id, reminderRows.map((r) => r.id), doctor.id, now + 3 * 3600_000, now + 3 * 3600_000, REMINDERS],
  );
  await knex.raw(
    `INSERT INTO reminders (id, organization_id, appointment_id, offset_minutes, due_at, channel, status)
     SELECT ? || lpad(g::text, 6, '0'), ?, 'apt_M' || ? || lpad(g::text, 6, '0'), 120, to_timestamp(? / 1000.0), 'sms', 'pending'
     FROM generate_series(1, ?) g`,
    [newId('reminder').slice(0, 20), t.org.id, tag, now - 60_000, REMINDERS],
  );
  const bulk = rows.slice(REMINDERS);
  return { reminderPhones: reminderRows.map((r) => r.phone), bulkIds: bulk.map((r) => r.id), bulkPhones: bulk.map((r) => r.phone) };
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('exactly once across instances (reminders and bulk SMS)', function () {
  this.timeout(240_000);
  let fake: FakeTwilio;
  const children: Instance[] = [];

  before(async () => {
    await testService();
    fake = await new FakeTwilio().start();
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await terminate(c, 'SIGTERM');
    await stopSmsServices();
  });
  after(async () => {
    await fake.stop();
  });

  function assertOnceEach(phones: string[], isReminder: boolean): void {
    const wrong: string[] = [];
    for (const phone of phones) {
      const got = fake.to(phone).filter((m) => m.body.startsWith('Recordatorio') === isReminder);
      if (got.length !== 1) wrong.push(`${phone}: ${got.length}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} recipient(s) without exactly one message`);
  }

  async function finished(knex: Knex, orgId: string, batchId: string): Promise<boolean> {
    const [{ n }] = await knex('messages').where({ organization_id: orgId, direction: 'outbound' }).whereIn('status', ['queued', 'sending']).count('* as n');
    const [{ r }] = await knex('reminders').where({ organization_id: orgId }).whereIn('status', ['pending', 'claimed']).count('* as r');
    const [{ b }] = await knex('messages').where({ batch_id: batchId }).count('* as b');
    return Number(n) === 0 && Number(r) === 0 && Number(b) === BULK;
  }

  async function verify(knex: Knex, t: TestOrg, seeded: Awaited<ReturnType<typeof seed>>, batchId: string): Promise<void> {
    assertOnceEach(seeded.reminderPhones, true);
    assertOnceEach(seeded.bulkPhones, false);
    assert.equal(fake.messages.filter((m) => seeded.bulkPhones.includes(m.to) || seeded.reminderPhones.includes(m.to)).length, REMINDERS + BULK);
    const statuses = await knex('reminders').where({ organization_id: t.org.id }).groupBy('status').select('status', knex.raw('count(*)::int AS n'));
    assert.deepEqual(statuses, [{ status: 'sent', n: REMINDERS }]);
    const batch = (await (await clientOn(await testService(), t)).get(`/api/v1/communications/batches/${batchId}`)).body.data;
    assert.deepEqual({ sent: batch.sent, queued: batch.queued, failed: batch.failed, status: batch.status }, { sent: BULK, queued: 0, failed: 0, status: 'completed' });
  }

  it('two instances send 500 due reminders and a 2,000-recipient bulk SMS batch exactly once; on PostgreSQL one is SIGKILLed mid-batch and restarted', async () => {
    // No quiet hours: run at 22:00 UTC, this test must not find its batch deferred to the morning.
    const t = await createTestOrg({ settings: { quiet_hours: null } });
    const knex = t.svc.deps.db.knex;
    const seeded = await seed(knex, t);
    const postgres = t.svc.deps.db.kind === 'postgres';
    let urls: string[];
    if (postgres) {
      children.push(await spawnInstance(fake, t.org.id), await spawnInstance(fake, t.org.id));
      urls = children.map((c) => c.url);
    } else {
      const env = { ...twilioEnv(fake, { SMS_RATE_PER_SECOND: '5000' }), REMINDER_TICK: '* * * * * *', DISPATCH_POLL_MS: '100' };
      urls = [(await startSmsService(fake, [t.org.id], { env, leaseSeconds: 10 })).url, (await startSmsService(fake, [t.org.id], { env, leaseSeconds: 10 })).url];
    }
    const bulk = await new ApiClient(urls[1], t.admin.token).post('/api/v1/communications/send-bulk', { patient_ids: seeded.bulkIds, channel: 'sms', message: 'La clínica cierra el viernes' });
    assert.equal(bulk.status, 202, JSON.stringify(bulk.body).slice(0, 300));
    const batchId = bulk.body.data.id as string;
    const ours = new Set([...seeded.bulkPhones, ...seeded.reminderPhones]);
    const received = () => fake.messages.filter((m) => ours.has(m.to)).length;
    if (postgres) {
      await waitUntil(() => received() >= 800, 60_000, '800 messages before the crash');
      await terminate(children[0]!, 'SIGKILL');
      const atCrash = received();
      assert.ok(atCrash < REMINDERS + BULK, 'the crash came mid-batch');
      children[0] = await spawnInstance(fake, t.org.id);
    }
    await waitUntil(() => finished(knex, t.org.id, batchId), 180_000, 'every message and reminder to be recorded');
    await sleep(500);
    await verify(knex, t, seeded, batchId);
  });

  it('records a message Twilio accepted before the sender crashed (found at Twilio) instead of sending it again', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const phone = `+3469${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
    const id = newId('message');
    const createdAt = new Date(Date.now() - 5_000);
    await knex('messages').insert({
      id, organization_id: t.org.id, channel: 'sms', direction: 'outbound', sender: 'system', content: 'Tu resultado está listo', to_address: phone,
      // The first attempt claimed it, Twilio took it, and the process died before recording: queued under an expired lease.
      status: 'queued', attempts: 1, claimed_until: new Date(Date.now() - 1_000), created_at: createdAt, updated_at: createdAt,
    });
    const adapter = new TwilioSmsAdapter({ config: testConfig(twilioEnv(fake)), logger: createLogger('silent') });
    const accepted = await adapter.send({ id, organizationId: t.org.id, channel: 'sms', to: phone, text: 'Tu resultado está listo', options: null, conversationId: null, sender: 'system', createdAt });
    const svc = await startSmsService(fake, [t.org.id]);
    await waitUntil(async () => (await knex('messages').where({ id }).first()).status === 'sent', 10_000, 'the retaken message to be recorded');
    const row = await knex('messages').where({ id }).first();
    assert.equal(row.provider_message_id, accepted.providerMessageId);
    assert.equal(row.attempts, 2);
    assert.equal(fake.to(phone).length, 1, 'not sent twice');
    // A message Twilio never got is sent on the retake as usual.
    const lost = newId('message');
    await knex('messages').insert({
      id: lost, organization_id: t.org.id, channel: 'sms', direction: 'outbound', sender: 'system', content: 'Otro aviso', to_address: phone,
      status: 'queued', attempts: 1, claimed_until: new Date(Date.now() - 1_000), created_at: new Date(), updated_at: new Date(),
    });
    svc.dispatcher.kick();
    await fake.waitFor(phone, 2);
    assert.deepEqual(fake.to(phone).map((m) => m.body), ['Tu resultado está listo', 'Otro aviso']);
  });
});
