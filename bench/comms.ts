/**
 * Communications benchmarks on PostgreSQL (a database of their own,
 * carechat_bench_comms), each beside a floor measured in the same run:
 * - enqueue a 100k-recipient bulk SMS through createBulkSend vs a raw INSERT ... SELECT of the same rows;
 * - dispatch to a zero-latency channel with one and two dispatchers vs the raw claim + update queries;
 * - reminders claimed and queued per second (the job's tick) vs the raw claim query.
 */
import type { Knex } from 'knex';
import { BENCH_ENCRYPTION_KEYS, benchDatabaseUrl, resetDatabase } from './lib.js';
import { parseKeyRing } from '../lib/encryption.js';
import { openDatabase, type Database } from '../models/db.js';
import { createOrganization } from '../models/organizations.js';
import { createDoctor } from '../models/doctors.js';
import { cancelBatch, createBulkSend } from '../models/communications.js';
import { OutboundDispatcher, DEFAULT_BACKOFF_MS } from '../channels/dispatcher.js';
import { ChannelRegistry } from '../channels/registry.js';
import type { ChannelAdapter, ChannelHealth, OutboundMessage, SendResult } from '../channels/types.js';
import { ReminderJob } from '../schedulers/reminders.js';
import { createLogger } from '../lib/logger.js';
import { systemClock } from '../lib/clock.js';

const RECIPIENTS = Number(process.env.BENCH_COMMS_RECIPIENTS ?? 100_000);
const DISPATCH_MESSAGES = Number(process.env.BENCH_COMMS_DISPATCH ?? 20_000);
const REMINDERS = Number(process.env.BENCH_COMMS_REMINDERS ?? 5_000);
const logger = createLogger('silent');

/** A channel that accepts at once: measures the dispatcher, not a provider. */
class InstantChannel implements ChannelAdapter {
  readonly name = 'sms' as const;
  readonly capabilities = { buttons: false, media: false, maxTextLength: 640 };
  readonly enabled = true;
  sent = 0;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(_msg: OutboundMessage): Promise<SendResult> {
    return { providerMessageId: `SM${++this.sent}` };
  }
  health(): ChannelHealth {
    return { name: 'sms', enabled: true, status: 'up' };
  }
}

export interface CommsBenchResult { name: string; ours: number; floor: number; unit: string; ratio: number }

const secs = (ms: number) => (ms / 1000).toFixed(2);
const now = () => performance.now();

async function insertPatients(k: Knex, orgId: string, n: number, tag: string): Promise<void> {
  await k.raw(
    `INSERT INTO patients (id, organization_id, name, phone, preferred_language)
     SELECT 'pat_' || ? || lpad(g::text, 8, '0'), ?, 'Patient ' || g, '+346' || lpad(g::text, 8, '0'), (ARRAY['en','es','ca','hi'])[1 + g % 4]
     FROM generate_series(1, ?) g`,
    [tag, orgId, n],
  );
}

async function queuedCount(k: Knex): Promise<number> {
  const [{ n }] = (await k('messages').whereIn('status', ['queued', 'sending']).count('* as n')) as { n: string }[];
  return Number(n);
}

/** Queues `n` plain outbound SMS rows for the dispatch runs (one INSERT ... SELECT). */
async function queueRows(k: Knex, orgId: string, n: number): Promise<void> {
  await k.raw(
    `INSERT INTO messages (id, organization_id, patient_id, channel, direction, sender, content, to_address, status, created_at, updated_at)
     SELECT 'msg_D' || md5(random()::text || g::text), ?, p.id, 'sms', 'outbound', 'staff', 'Hola', p.phone, 'queued', now(), now()
     FROM (SELECT id, phone, row_number() OVER (ORDER BY id) AS g FROM patients WHERE organization_id = ? LIMIT ?) p`,
    [orgId, orgId, n],
  );
}

async function dispatchRun(dbs: Database[], orgId: string): Promise<number> {
  const channel = new InstantChannel();
  const dispatchers = dbs.map((db) => new OutboundDispatcher(db, new ChannelRegistry([channel]), logger, {
    pollMs: 50, batchSize: 50, leaseSeconds: 60, maxAttempts: 5, backoff: DEFAULT_BACKOFF_MS, organizationIds: [orgId],
  }));
  const start = now();
  await Promise.all(dispatchers.map((d) => d.drain()));
  const ms = now() - start;
  return (channel.sent / ms) * 1000;
}

/** The floor: the same claim statement, then one guarded UPDATE per message (8 at a time), nothing else; or one UPDATE per batch (the ceiling of batched recording). */
async function rawDispatchFloor(k: Knex, batchedRecord = false): Promise<number> {
  const start = now();
  let total = 0;
  for (;;) {
    const { rows } = (await k.raw(
      `UPDATE messages SET status = 'sending', claimed_until = now() + interval '60 seconds', attempts = attempts + 1
       WHERE id IN (SELECT id FROM messages WHERE direction = 'outbound' AND status = 'queued' ORDER BY created_at, id LIMIT 50 FOR UPDATE SKIP LOCKED)
       RETURNING id, attempts`,
    )) as { rows: { id: string; attempts: number }[] };
    if (rows.length === 0) break;
    if (batchedRecord) {
      await k.raw(`UPDATE messages SET status = 'sent', provider_message_id = 'x', sent_at = now(), claimed_until = null WHERE id = ANY(?::text[])`, [rows.map((r) => r.id)]);
      total += rows.length;
      continue;
    }
    const lanes = [...rows];
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let r = lanes.shift(); r; r = lanes.shift()) {
        await k('messages').where({ id: r.id, status: 'sending', attempts: r.attempts }).update({ status: 'sent', provider_message_id: 'x', sent_at: new Date(), claimed_until: null });
      }
    }));
    total += rows.length;
  }
  return (total / (now() - start)) * 1000;
}

async function seedReminders(k: Knex, orgId: string, doctorId: string, n: number, tag: string): Promise<void> {
  await k.raw(
    `INSERT INTO appointments (id, organization_id, patient_id, doctor_id, start_time, end_time, duration_minutes, status)
     SELECT 'apt_' || ? || lpad(g::text, 8, '0'), ?, 'pat_P' || lpad(g::text, 8, '0'), ?, now() + interval '1 day' + g * interval '30 minutes',
       now() + interval '1 day' + g * interval '30 minutes' + interval '30 minutes', 30, 'scheduled'
     FROM generate_series(1, ?) g`,
    [tag, orgId, doctorId, n],
  );
  await k.raw(
    `INSERT INTO reminders (id, organization_id, appointment_id, offset_minutes, due_at, channel, status)
     SELECT 'rem_' || ? || lpad(g::text, 8, '0'), ?, 'apt_' || ? || lpad(g::text, 8, '0'), 120, now() - interval '1 minute', 'sms', 'pending'
     FROM generate_series(1, ?) g`,
    [tag, orgId, tag, n],
  );
}

export async function runCommsBenchmark(): Promise<CommsBenchResult[]> {
  const url = benchDatabaseUrl().replace(/\/[^/]+$/, '/carechat_bench_comms');
  await resetDatabase(url);
  // Message content sealed, as in production (the floors' raw inserts are not).
  const db = await openDatabase({ url, poolMax: 10, keyRing: parseKeyRing(BENCH_ENCRYPTION_KEYS) });
  const second = await openDatabase({ url, poolMax: 10, keyRing: parseKeyRing(BENCH_ENCRYPTION_KEYS) });
  const k = db.knex;
  const results: CommsBenchResult[] = [];
  const report = (r: CommsBenchResult) => {
    results.push(r);
    console.log(`${r.name.padEnd(44)} ours ${r.ours.toFixed(r.unit === 's' ? 2 : 0).padStart(9)} ${r.unit.padEnd(10)} floor ${r.floor.toFixed(r.unit === 's' ? 2 : 0).padStart(9)} ${r.unit.padEnd(10)} ratio ${r.ratio.toFixed(2)}x (ours / floor)`);
  };
  try {
    const org = await createOrganization(k, { name: 'Bench clinic', timeZone: 'Europe/Madrid' });
    const scope = { organizationId: org.id };
    await insertPatients(k, org.id, RECIPIENTS, 'P');
    await k.raw('ANALYZE');

    // 1. Enqueue a 100k bulk send: the domain function vs a raw INSERT ... SELECT of the same rows.
    let t0 = now();
    const view = await k.transaction((trx) => createBulkSend(trx, scope, {
      filter: { status: 'active' }, channel: 'sms', message: 'Hola {{first_name}}, la clínica cierra el viernes.', createdBy: null, sender: 'staff', now: new Date(),
    }));
    const enqueueMs = now() - t0;
    await cancelBatch(k, scope, view.batch.id);
    t0 = now();
    await k.raw(
      `INSERT INTO messages (id, organization_id, patient_id, channel, direction, sender, content, to_address, status, batch_id, created_at, updated_at)
       SELECT 'msg_F' || p.id, p.organization_id, p.id, 'sms', 'outbound', 'staff', 'Hola ' || split_part(p.name, ' ', 1) || ', la clínica cierra el viernes.',
         p.phone, 'cancelled', 'batch_floor', now(), now()
       FROM patients p WHERE p.organization_id = ? AND p.status = 'active' AND p.deleted_at IS NULL`,
      [org.id],
    );
    const floorMs = now() - t0;
    console.log(`enqueue ${view.counts.total} recipients: createBulkSend ${secs(enqueueMs)} s (target < 5 s), raw INSERT ... SELECT ${secs(floorMs)} s`);
    report({ name: `enqueue ${RECIPIENTS / 1000}k bulk (s, lower is better)`, ours: enqueueMs / 1000, floor: floorMs / 1000, unit: 's', ratio: enqueueMs / floorMs });

    // 2. Dispatch to an instant channel: one dispatcher, two dispatchers (two pools), and the raw claim + update floor.
    await queueRows(k, org.id, DISPATCH_MESSAGES);
    const one = await dispatchRun([db], org.id);
    await queueRows(k, org.id, DISPATCH_MESSAGES);
    const two = await dispatchRun([db, second], org.id);
    await queueRows(k, org.id, DISPATCH_MESSAGES);
    const floor = await rawDispatchFloor(k);
    await queueRows(k, org.id, DISPATCH_MESSAGES);
    const batched = await rawDispatchFloor(k, true);
    if ((await queuedCount(k)) !== 0) throw new Error('dispatch runs left messages queued');
    console.log(`dispatch ceiling with one commit per claimed batch (raw, batched record): ${batched.toFixed(0)} msg/s`);
    report({ name: 'dispatch, 1 dispatcher (msg/s, target >= 3000)', ours: one, floor, unit: 'msg/s', ratio: one / floor });
    report({ name: 'dispatch, 2 dispatchers (msg/s)', ours: two, floor, unit: 'msg/s', ratio: two / floor });

    // 3. Reminders: the job's tick (claim, render, queue, mark sent, set context) vs the raw claim query.
    const doctor = await createDoctor(k, scope, { name: 'Dr. García', specialization: 'General Practice', working_hours: {}, location: null, active: true });
    await seedReminders(k, org.id, doctor.id, REMINDERS, 'R');
    const job = new ReminderJob({ db, logger, clock: systemClock, schedule: '* * * * *', leaseSeconds: 60, idleMinutes: 1440, batchSize: 200, concurrency: 8 });
    t0 = now();
    const tick = await job.tick();
    const tickMs = now() - t0;
    if (tick.queued !== REMINDERS) throw new Error(`reminder tick queued ${tick.queued} of ${REMINDERS}`);
    const other = await createDoctor(k, scope, { name: 'Dr. Puig', specialization: 'General Practice', working_hours: {}, location: null, active: true });
    await seedReminders(k, org.id, other.id, REMINDERS, 'S');
    t0 = now();
    let claimed = 0;
    for (;;) {
      const { rows } = (await k.raw(
        `UPDATE reminders SET status = 'claimed', claimed_until = now() + interval '60 seconds', attempts = attempts + 1
         WHERE id IN (SELECT id FROM reminders WHERE status = 'pending' AND due_at <= now() ORDER BY due_at, id LIMIT 200 FOR UPDATE SKIP LOCKED) RETURNING id`,
      )) as { rows: { id: string }[] };
      if (rows.length === 0) break;
      claimed += rows.length;
    }
    const rawMs = now() - t0;
    report({ name: 'reminders claimed + queued (per s)', ours: (REMINDERS / tickMs) * 1000, floor: (claimed / rawMs) * 1000, unit: 'rem/s', ratio: (REMINDERS / tickMs) / (claimed / rawMs) });
    return results;
  } finally {
    await second.close();
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runCommsBenchmark();
  process.exit(0);
}
