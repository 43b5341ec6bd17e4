import assert from 'node:assert/strict';
import { createTestOrg } from '../support/factories.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { claimStatement } from '../../models/outbox.js';
import { testDatabase } from '../support/service.js';
import { genericPlan, planNodes as nodes, planProbeTable, type PlanNode } from '../support/plans.js';

/** Every read of the messages table inside the per-recipient order check (the NOT EXISTS probe). */
function probeScans(plan: PlanNode): PlanNode[] {
  // The probe is the only subplan that scans messages under the alias e; EXPLAIN JSON names it in 'Alias'.
  return nodes(plan).filter((n) => n.Alias === 'e');
}

function assertProbeSeeksRecipient(plan: PlanNode): void {
  const scans = probeScans(plan);
  assert.ok(scans.length > 0, 'the plan has the per-recipient order check');
  for (const scan of scans) {
    const reads = nodes(scan).filter((n) => n['Index Name']);
    assert.deepEqual(reads.map((n) => n['Index Name']), ['messages_outbox_recipient'], `the check reads the recipient index (${scan['Node Type']})`);
    // Without a condition on the recipient, every candidate reads the whole outbox: quadratic in its size.
    assert.match(reads[0]!['Index Cond'] ?? '', /to_address = /, 'the check seeks the recipient');
  }
}

describe('the outbox claim (models/outbox)', () => {
  it('checks each candidate against the earlier messages of its own recipient only, in the generic plan too', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    for (let i = 0; i < 12; i++) {
      await queueOutboundMessage(knex, { organizationId: t.org.id }, { channel: 'telegram', to: `plan-${i % 4}`, text: `message ${i}`, sender: 'assistant' });
    }
    const statement = claimStatement({ limit: 200, leaseSeconds: 60, now: new Date(), channels: ['telegram'], organizationIds: [t.org.id] })!;
    assertProbeSeeksRecipient(await knex.transaction((trx) => genericPlan(trx, statement.sql, statement.bindings)));
  });

  it('never checks the order through the queue-order index, whatever the statistics say', async () => {
    // Statistics of a busy outbox to few addresses once made the queue-order index look as cheap as the recipient
    // index for the check, which then read every earlier queued message once per candidate. Ties of cost are the
    // planner's to break, so the check must be one that index cannot serve at all: with the recipient index gone,
    // the planner still may not reach for it.
    const knex = (await testDatabase()).knex;
    const statement = claimStatement({ limit: 200, leaseSeconds: 60, now: new Date(), channels: ['telegram'], organizationIds: ['org_plan'] })!;
    let plan: PlanNode | undefined;
    await knex.transaction(async (trx) => {
      // A table of the same shape in a schema of its own (the rollback drops it), without the recipient index.
      await planProbeTable(trx, 'messages', 'outbox_plan_probe', ['messages_outbox_recipient']);
      await trx.raw(
        `INSERT INTO messages (id, organization_id, channel, direction, sender, status, to_address, created_at)
         SELECT 'msg_' || g, 'org_plan', 'telegram', CASE WHEN g % 2 = 1 THEN 'outbound' ELSE 'inbound' END, 'assistant',
           CASE WHEN g % 2 = 0 THEN 'received' WHEN g <= 400 THEN 'queued' ELSE 'sent' END, 'addr-' || (g % 3), now() + g * interval '1 ms'
         FROM generate_series(1, 2000) g`);
      await trx.raw('ANALYZE messages');
      plan = await genericPlan(trx, statement.sql, statement.bindings);
      await trx.rollback();
    });
    const reads = probeScans(plan!).flatMap(nodes).map((n) => n['Index Name']).filter(Boolean);
    assert.ok(probeScans(plan!).length > 0, 'the plan has the per-recipient order check');
    assert.ok(!reads.includes('messages_outbox_queue'), `the check does not read the queue-order index (it reads ${reads.join(', ') || 'the table'})`);
  });

  it('commits a claim without waiting for the disk flush (synchronous_commit off for its own transaction only)', async () => {
    const t = await createTestOrg();
    const m = await queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, { channel: 'telegram', to: 'async-1', text: 'See you at 10:00.', sender: 'assistant' });
    const statement = claimStatement({ limit: 10, leaseSeconds: 60, now: new Date(), organizationIds: [t.org.id] })!;
    await t.svc.deps.db.knex.transaction(async (trx) => {
      const before = (await trx.raw('SHOW synchronous_commit')).rows[0].synchronous_commit as string;
      assert.notEqual(before, 'off', 'the connection commits synchronously by default');
      const { rows } = (await trx.raw(statement.sql, statement.bindings)) as { rows: { id: string | null }[] };
      assert.deepEqual(rows.map((r) => r.id), [m.id]);
      assert.equal((await trx.raw('SHOW synchronous_commit')).rows[0].synchronous_commit, 'off', 'the claim relaxed its own transaction');
    });
    const after = (await t.svc.deps.db.knex.raw('SHOW synchronous_commit')).rows[0].synchronous_commit as string;
    assert.notEqual(after, 'off', 'and nothing after it');
  });
});
