/**
 * Index builds that do not block writes, for migrations on tables a running
 * clinic writes to all day (appointments, conversations, messages): a plain
 * CREATE INDEX holds off every insert and update for the length of the build.
 * CONCURRENTLY cannot run in a transaction, so a migration using these
 * declares `config = { transaction: false }` and does nothing else that needs one.
 */
import type { Knex } from 'knex';

/** Whether an index of that name exists in the current schema, and whether it is valid. */
async function indexState(knex: Knex, name: string): Promise<'valid' | 'invalid' | 'absent'> {
  const { rows } = (await knex.raw(
    `SELECT i.indisvalid AS valid FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relname = ? AND n.nspname = current_schema()`,
    [name],
  )) as { rows: { valid: boolean }[] };
  if (!rows[0]) return 'absent';
  return rows[0].valid ? 'valid' : 'invalid';
}

/**
 * CREATE INDEX CONCURRENTLY `name` ON `definition` (the table, columns and
 * any INCLUDE or WHERE). A build that failed half-way (a deploy stopped, a
 * deadlock) leaves an invalid index under the name, which IF NOT EXISTS would
 * keep for good: it is dropped and built again. A valid one is left alone.
 */
export async function createIndexConcurrently(knex: Knex, name: string, definition: string): Promise<void> {
  const state = await indexState(knex, name);
  if (state === 'valid') return;
  if (state === 'invalid') await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await knex.raw(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`);
}

export async function dropIndexConcurrently(knex: Knex, name: string): Promise<void> {
  await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
}
