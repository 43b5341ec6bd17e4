/** Query plans for tests that hold a statement to the index it must read. */
import type { Knex } from 'knex';

export interface PlanNode { 'Node Type': string; 'Index Name'?: string; 'Index Cond'?: string; Alias?: string; 'Relation Name'?: string; Plans?: PlanNode[] }

/** A binding written as an SQL literal, for EXECUTE's arguments (EXECUTE takes no parameters of its own). */
function literal(value: unknown): string {
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  if (value instanceof Date) return `${quote(value.toISOString())}::timestamptz`;
  if (Array.isArray(value)) return `ARRAY[${value.map((v) => quote(String(v))).join(', ')}]::text[]`;
  if (typeof value === 'number') return String(value);
  return quote(String(value));
}

/** The node and every node under it. */
export function planNodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
}

/** The plan PostgreSQL settles on for a statement run again and again: prepared, generic (no parameter values). */
export async function genericPlan(trx: Knex.Transaction, sql: string, bindings: readonly Knex.RawBinding[]): Promise<PlanNode> {
  const native = trx.raw(sql, [...bindings]).toSQL().toNative();
  // A prepared statement outlives the transaction on its connection: deallocated however the test goes.
  await trx.raw(`PREPARE plan_under_test AS ${native.sql}`);
  let rows: Record<string, unknown>[];
  try {
    await trx.raw('SET LOCAL plan_cache_mode = force_generic_plan');
    ({ rows } = (await trx.raw(`EXPLAIN (FORMAT JSON) EXECUTE plan_under_test(${native.bindings.map(literal).join(', ')})`)) as { rows: Record<string, unknown>[] });
  } finally {
    await trx.raw('DEALLOCATE plan_under_test').catch(() => undefined);
  }
  const doc = rows[0]!['QUERY PLAN'];
  return ((typeof doc === 'string' ? JSON.parse(doc) : doc) as [{ Plan: PlanNode }])[0].Plan;
}

/**
 * A copy of a public table in a schema of its own, first on the search path, for
 * plans that must not depend on what other tests left in the real one: its
 * defaults, CHECKs and indexes (under their own names; LIKE would name them
 * anew), but for `withoutIndexes`. The caller's transaction, rolled back, drops it.
 */
export async function planProbeTable(trx: Knex.Transaction, table: string, schema: string, withoutIndexes: readonly string[] = []): Promise<void> {
  await trx.raw(`CREATE SCHEMA ${schema}`);
  await trx.raw(`CREATE TABLE ${schema}.${table} (LIKE public.${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
  const { rows } = (await trx.raw(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ?`, [table])) as { rows: { indexname: string; indexdef: string }[] };
  for (const { indexname, indexdef } of rows) {
    if (!withoutIndexes.includes(indexname)) await trx.raw(indexdef.replace(` ON public.${table} `, ` ON ${schema}.${table} `));
  }
  await trx.raw(`SET LOCAL search_path = ${schema}, public`);
}
