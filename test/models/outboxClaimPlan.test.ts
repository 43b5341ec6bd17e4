import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { createTestOrg } from '../support/factories.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { claimStatement } from '../../models/outbox.js';

interface PlanNode { 'Node Type': string; 'Index Name'?: string; 'Index Cond'?: string; Plans?: PlanNode[] }

/** A binding written as an SQL literal, for EXECUTE's arguments (EXECUTE takes no parameters of its own). */
function literal(value: unknown): string {
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  if (value instanceof Date) return `${quote(value.toISOString())}::timestamptz`;
  if (Array.isArray(value)) return `ARRAY[${value.map((v) => quote(String(v))).join(', ')}]::text[]`;
  if (typeof value === 'number') return String(value);
  return quote(String(value));
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The plan PostgreSQL settles on for a statement run again and again: prepared, generic (no parameter values). */
async function genericPlan(knex: Knex, sql: string, bindings: readonly Knex.Value[]): Promise<PlanNode> {
  const native = knex.raw(sql, bindings as Knex.Value[]).toSQL().toNative();
  return knex.transaction(async (trx) => {
    // A prepared statement outlives the transaction on its connection: deallocated however the test goes.
    await trx.raw(`PREPARE outbox_claim_plan AS ${native.sql}`);
    let rows: Record<string, unknown>[];
    try {
      await trx.raw('SET LOCAL plan_cache_mode = force_generic_plan');
      ({ rows } = (await trx.raw(`EXPLAIN (FORMAT JSON) EXECUTE outbox_claim_plan(${native.bindings.map(literal).join(', ')})`)) as { rows: Record<string, unknown>[] });
    } finally {
      await trx.raw('DEALLOCATE outbox_claim_plan').catch(() => undefined);
    }
    const doc = rows[0]!['QUERY PLAN'];
    return ((typeof doc === 'string' ? JSON.parse(doc) : doc) as [{ Plan: PlanNode }])[0].Plan;
  });
}

describe('the outbox claim (models/outbox)', () => {
  it('checks each candidate against the earlier messages of its own recipient only, in the generic plan too', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    for (let i = 0; i < 12; i++) {
      await queueOutboundMessage(knex, { organizationId: t.org.id }, { channel: 'telegram', to: `plan-${i % 4}`, text: `message ${i}`, sender: 'assistant' });
    }
    const statement = claimStatement({ limit: 200, leaseSeconds: 60, now: new Date(), channels: ['telegram'], organizationIds: [t.org.id] })!;
    const plan = await genericPlan(knex, statement.sql, statement.bindings);
    const probes = nodes(plan).filter((n) => n['Index Name'] === 'messages_outbox_recipient');
    assert.ok(probes.length > 0, 'the per-recipient order check reads the recipient index');
    for (const probe of probes) {
      // Without a condition on the recipient, every candidate reads the whole outbox: quadratic in its size.
      assert.match(probe['Index Cond'] ?? '', /to_address = /, `the probe seeks the recipient (${probe['Node Type']})`);
    }
  });
});
