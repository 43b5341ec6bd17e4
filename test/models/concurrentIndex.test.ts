import assert from 'node:assert/strict';
import { createIndexConcurrently } from '../../models/migrations/concurrentIndex.js';
import { testDatabase } from '../support/service.js';

describe('index builds that do not block writes (models/migrations/concurrentIndex)', () => {
  const indexRow = async (name: string) => {
    const knex = (await testDatabase()).knex;
    const { rows } = (await knex.raw(
      `SELECT c.oid::int AS oid, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ?`, [name],
    )) as { rows: { oid: number; valid: boolean }[] };
    return rows[0];
  };

  it('the indexes of migrations 018 and 019, built outside a transaction, are there and valid', async () => {
    for (const name of ['appointments_active_by_doctor', 'conversations_by_address']) {
      assert.equal((await indexRow(name))?.valid, true, name);
    }
  });

  it('builds an index, leaves a valid one alone, and builds again one that a failed build left invalid', async () => {
    const knex = (await testDatabase()).knex;
    const table = `index_probe_${Date.now()}`;
    const name = `${table}_a`;
    await knex.raw(`CREATE TABLE ${table} (a int, b int)`);
    try {
      await knex.raw(`INSERT INTO ${table} SELECT g, g FROM generate_series(1, 500) g`);
      await createIndexConcurrently(knex, name, `${table} (a) INCLUDE (b) WHERE a > 10`);
      const built = await indexRow(name);
      assert.equal(built?.valid, true);
      await createIndexConcurrently(knex, name, `${table} (a) INCLUDE (b) WHERE a > 10`);
      assert.deepEqual(await indexRow(name), built, 'a valid index is left as it is');
      // What an interrupted CREATE INDEX CONCURRENTLY leaves behind.
      await knex.raw('UPDATE pg_index SET indisvalid = false WHERE indexrelid = ?::regclass', [name]);
      await createIndexConcurrently(knex, name, `${table} (a) INCLUDE (b) WHERE a > 10`);
      const rebuilt = await indexRow(name);
      assert.equal(rebuilt?.valid, true);
      assert.notEqual(rebuilt?.oid, built?.oid, 'dropped and built again');
    } finally {
      await knex.raw(`DROP TABLE IF EXISTS ${table}`);
    }
  });
});
