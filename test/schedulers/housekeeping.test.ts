import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fixedClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { newId } from '../../lib/ids.js';
import { recordEvent } from '../../models/base.js';
import { HousekeepingJob } from '../../schedulers/housekeeping.js';
import { startCall } from '../../models/calls.js';
import { findOrCreateOpenConversation } from '../../models/conversations.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { createTestOrg, insertRawMessage, type TestOrg } from '../support/factories.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function job(t: TestOrg, now: Date): HousekeepingJob {
  return new HousekeepingJob({ db: t.svc.deps.db, logger: createLogger('silent'), clock: fixedClock(now), schedule: '0 0 0 1 1 *', batchSize: 2 });
}

async function idempotencyKey(t: TestOrg, createdAt: Date): Promise<string> {
  const key = `k-${randomBytes(4).toString('hex')}`;
  await t.svc.deps.db.knex('idempotency_keys').insert({ organization_id: t.org.id, key, method: 'POST', path: '/api/v1/patients', status_code: 201, created_at: createdAt });
  return key;
}

async function resetLink(t: TestOrg, expiresAt: Date): Promise<string> {
  const id = newId('refreshToken');
  await t.svc.deps.db.knex('password_resets').insert({ id, user_id: t.admin.user.id, token_hash: randomBytes(16).toString('hex'), expires_at: expiresAt });
  return id;
}

async function delivery(t: TestOrg, webhookId: string, status: string, updatedAt: Date): Promise<string> {
  const knex = t.svc.deps.db.knex;
  const eventId = newId('event');
  await recordEvent(knex, t.org.id, 'webhook.test', webhookId, {}, eventId);
  const id = newId('delivery');
  await knex('webhook_deliveries').insert({ id, organization_id: t.org.id, webhook_id: webhookId, event_id: eventId, event: 'webhook.test', status, updated_at: updatedAt, next_attempt_at: updatedAt });
  return id;
}

describe('housekeeping (schedulers/housekeeping)', () => {
  it('deletes Idempotency-Keys older than a day, expired reset links and webhook deliveries finished over 30 days ago, and nothing else', async () => {
    const t = await createTestOrg();
    const now = new Date();
    const knex = t.svc.deps.db.knex;
    const oldKeys = [await idempotencyKey(t, new Date(now.getTime() - 25 * HOUR)), await idempotencyKey(t, new Date(now.getTime() - 40 * DAY)), await idempotencyKey(t, new Date(now.getTime() - 2 * DAY))];
    const freshKey = await idempotencyKey(t, new Date(now.getTime() - 23 * HOUR));
    const expiredLinks = [await resetLink(t, new Date(now.getTime() - 1_000)), await resetLink(t, new Date(now.getTime() - DAY))];
    const liveLink = await resetLink(t, new Date(now.getTime() + HOUR));
    const hook = (await t.admin.client.post('/api/v1/webhooks', { url: 'https://x.example/h', events: ['ticket.created'] })).body.data;
    const oldFinished = [await delivery(t, hook.id, 'succeeded', new Date(now.getTime() - 31 * DAY)), await delivery(t, hook.id, 'failed', new Date(now.getTime() - 60 * DAY))];
    const recentFinished = await delivery(t, hook.id, 'failed', new Date(now.getTime() - 29 * DAY));
    const oldPending = await delivery(t, hook.id, 'pending', new Date(now.getTime() - 31 * DAY));
    // The shared service may have sent the old pending one when its event was recorded: keep it pending for this test.
    await knex('webhooks').where({ id: hook.id }).update({ status: 'disabled' });

    // Batches of 2: the run repeats while a batch comes back full.
    const counts = await job(t, now).tick();
    assert.ok(counts.idempotency_keys >= 3 && counts.password_resets >= 2 && counts.webhook_deliveries >= 2, JSON.stringify(counts));

    const keys = (await knex('idempotency_keys').where({ organization_id: t.org.id }).pluck('key')) as string[];
    assert.deepEqual(keys, [freshKey]);
    for (const k of oldKeys) assert.ok(!keys.includes(k));
    const links = (await knex('password_resets').where({ user_id: t.admin.user.id }).pluck('id')) as string[];
    assert.deepEqual(links, [liveLink]);
    for (const l of expiredLinks) assert.ok(!links.includes(l));
    const deliveries = (await knex('webhook_deliveries').where({ webhook_id: hook.id }).pluck('id')) as string[];
    assert.deepEqual(deliveries.sort(), [recentFinished, oldPending].sort());
    for (const d of oldFinished) assert.ok(!deliveries.includes(d));
    assert.equal((await knex('events').where({ organization_id: t.org.id, event: 'webhook.test' })).length, 4, 'events are kept');

    // Other tests' rows may still await re-sealing, and their calls ending (the tests below): only the deletions are checked here.
    const { rows_resealed: _, calls_ended: __, ...deleted } = await job(t, now).tick();
    assert.deepEqual(deleted, { idempotency_keys: 0, password_resets: 0, webhook_deliveries: 0 });
  });

  it('ends a call without news for six hours as completed at its last news: its duration, the replies not said failed, the conversation closed, call.completed', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const started = new Date('2031-04-01T09:00:00Z');
    const lastNews = new Date(started.getTime() + 7 * 60_000);
    const silent = await startCall(knex, scope, { callSid: `CA${randomBytes(16).toString('hex')}`, from: '+34600111222', to: '+34910000000', status: 'in-progress', now: started });
    const conversation = await findOrCreateOpenConversation(knex, scope, { channel: 'voice', address: '+34600111222', patientId: null, idleMinutes: 24 * 60, now: started });
    await knex('calls').where({ id: silent.id }).update({ conversation_id: conversation.id, updated_at: lastNews });
    const unsaid = await queueOutboundMessage(knex, scope, { conversationId: conversation.id, channel: 'voice', to: '+34600111222', text: 'Is there anything else?', sender: 'assistant', now: lastNews });
    // One with news an hour ago is still going on as far as anyone knows.
    const recent = await startCall(knex, scope, { callSid: `CA${randomBytes(16).toString('hex')}`, from: '+34600333444', to: '+34910000000', status: 'in-progress', now: started });
    const now = new Date(lastNews.getTime() + 6 * HOUR + 60_000);
    await knex('calls').where({ id: recent.id }).update({ updated_at: new Date(now.getTime() - HOUR) });

    assert.ok((await job(t, now).tick()).calls_ended >= 1);
    const ended = (await knex('calls').where({ id: silent.id }).first()) as { status: string; ended_at: Date; duration_seconds: number };
    assert.equal(ended.status, 'completed');
    assert.equal(new Date(ended.ended_at).getTime(), lastNews.getTime());
    assert.equal(ended.duration_seconds, 7 * 60);
    const message = (await knex('messages').where({ id: unsaid.id }).first()) as { status: string; last_error: string };
    assert.deepEqual([message.status, message.last_error], ['failed', 'call_ended']);
    assert.equal(((await knex('conversations').where({ id: conversation.id }).first()) as { status: string }).status, 'closed');
    const events = (await knex('events').where({ organization_id: t.org.id, event: 'call.completed' }).pluck('subject_id')) as string[];
    assert.deepEqual(events, [silent.id]);
    const still = (await knex('calls').where({ id: recent.id }).first()) as { status: string; ended_at: Date | null };
    assert.deepEqual([still.status, still.ended_at], ['in-progress', null]);
    assert.equal((await job(t, now).tick()).calls_ended, 0, 'ended once');
  });

  it('re-seals message content written before encryption under the primary key, then looks again only a day after a tick that found none', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const clock = fixedClock(new Date('2031-03-01T10:00:00Z'));
    const housekeeping = new HousekeepingJob({ db: t.svc.deps.db, logger: createLogger('silent'), clock, schedule: '0 0 0 1 1 *', batchSize: 2 });
    const sealedContent = async (id: string) => ((await knex('messages').where({ id }).first()) as { content: string }).content;

    const first = await insertRawMessage(t, 'Tengo fiebre desde ayer');
    assert.ok((await housekeeping.tick()).rows_resealed >= 1);
    assert.match(await sealedContent(first), /^enc:v1:test2:/);

    // A tick that finds nothing left sets the next look a day later.
    await housekeeping.tick();
    const second = await insertRawMessage(t, 'Otra línea sin sellar');
    clock.advance(HOUR);
    assert.equal((await housekeeping.tick()).rows_resealed, 0);
    assert.equal(await sealedContent(second), 'Otra línea sin sellar');
    clock.advance(DAY);
    assert.ok((await housekeeping.tick()).rows_resealed >= 1);
    assert.match(await sealedContent(second), /^enc:v1:test2:/);
  });
});
