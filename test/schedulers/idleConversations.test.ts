import assert from 'node:assert/strict';
import { fixedClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { Conversation, handoffConversation } from '../../models/conversations.js';
import { IdleConversationJob } from '../../schedulers/idleConversations.js';
import { testService } from '../support/service.js';
import { buildConversation, createTestOrg, type TestOrg } from '../support/factories.js';

const IDLE_MINUTES = 30;

/** The conversation's last message `minutes` before `now` (as if the patient had gone quiet then). */
async function quietSince(t: TestOrg, conv: Conversation, now: Date, minutes: number): Promise<void> {
  await t.svc.deps.db.knex('conversations').where({ id: conv.id }).update({ last_message_at: new Date(now.getTime() - minutes * 60_000) });
}

function job(t: TestOrg, now: Date): IdleConversationJob {
  return new IdleConversationJob({
    db: t.svc.deps.db, logger: createLogger('silent'), clock: fixedClock(now), idleMinutes: IDLE_MINUTES, schedule: '0 0 0 1 1 *',
    organizationIds: [t.org.id], batchSize: 2,
  });
}

describe('idle conversations (schedulers/idleConversations)', () => {
  it("closes the bot's conversations silent longer than CONVERSATION_IDLE_MINUTES (a minute's grace) with conversation.closed, reason idle; recent ones and those staff hold stay open", async () => {
    const t = await createTestOrg({ svc: await testService() });
    const now = new Date();
    const idle = await Promise.all([1, 2, 3].map(() => buildConversation(t)));
    const recent = await buildConversation(t);
    const withinGrace = await buildConversation(t);
    const heldByStaff = await buildConversation(t);
    for (const c of idle) await quietSince(t, c, now, IDLE_MINUTES + 2);
    await quietSince(t, recent, now, 5);
    await quietSince(t, withinGrace, now, IDLE_MINUTES + 0.5);
    await handoffConversation(t.svc.deps.db.knex, { organizationId: t.org.id }, heldByStaff.id, { reason: 'patient asked for a person' });
    await quietSince(t, heldByStaff, now, IDLE_MINUTES * 10);

    // Batches of 2: a run repeats until none is left.
    assert.equal(await job(t, now).tick(), 3);
    const status = async (c: Conversation) => (await Conversation.query(t.svc.deps.db.knex).findById(c.id))!;
    for (const c of idle) {
      const row = await status(c);
      assert.equal(row.status, 'closed');
      assert.equal(row.closed_at!.getTime(), now.getTime());
      assert.ok(row.state_version > c.state_version, 'a turn that read it before fails its guarded save');
    }
    assert.equal((await status(recent)).status, 'bot');
    assert.equal((await status(withinGrace)).status, 'bot');
    assert.equal((await status(heldByStaff)).status, 'handoff');
    const events = await t.svc.deps.db.knex('events').where({ organization_id: t.org.id, event: 'conversation.closed' });
    assert.deepEqual(events.map((e) => e.subject_id).sort(), idle.map((c) => c.id).sort());
    for (const e of events) assert.equal((typeof e.data === 'string' ? JSON.parse(e.data) : e.data).reason, 'idle');
    assert.equal(await job(t, now).tick(), 0, 'nothing left to close');

    // The list shows what is open; closing one again answers 409.
    const api = t.admin.client;
    const open = await api.get('/api/v1/conversations?status=bot&limit=100');
    assert.equal(open.status, 200);
    assert.deepEqual(open.body.data.map((c: { id: string }) => c.id).sort(), [recent.id, withinGrace.id].sort());
    const again = await api.post(`/api/v1/conversations/${idle[0]!.id}/close`);
    assert.equal(again.status, 409);
  });

  it('two instances running it at once close each conversation once, with one event each', async () => {
    const t = await createTestOrg({ svc: await testService() });
    const now = new Date();
    const idle = await Promise.all([1, 2, 3, 4, 5].map(() => buildConversation(t)));
    for (const c of idle) await quietSince(t, c, now, IDLE_MINUTES * 2);
    const closed = await Promise.all([job(t, now).tick(), job(t, now).tick()]);
    assert.equal(closed[0]! + closed[1]!, 5);
    const events = await t.svc.deps.db.knex('events').where({ organization_id: t.org.id, event: 'conversation.closed' });
    assert.equal(events.length, 5);
  });
});
