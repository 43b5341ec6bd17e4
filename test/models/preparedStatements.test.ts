import assert from 'node:assert/strict';
import { openDatabase, type Database } from '../../models/db.js';

/** A database of one connection, so the statements prepared on it are the ones its session sees. */
async function oneConnection(preparedStatements: boolean): Promise<Database> {
  return openDatabase({ url: process.env.DATABASE_URL, dataDir: 'memory://', poolMax: 1, preparedStatements });
}

async function preparedNames(db: Database): Promise<string[]> {
  const rows = (await db.knex.raw("SELECT name FROM pg_prepared_statements WHERE name LIKE 'cc\\_%' ORDER BY name")).rows as { name: string }[];
  return rows.map((r) => r.name);
}

describe('repeated statements (models/preparedStatements)', () => {
  it('prepares a statement on its third run, then answers every run with its own parameters', async () => {
    const db = await oneConnection(true);
    try {
      const sql = 'SELECT ?::int * 2 AS doubled, ?::text AS label';
      const before = await preparedNames(db);
      for (let i = 1; i <= 5; i++) {
        const { rows } = await db.knex.raw(sql, [i, `run ${i}`]);
        assert.deepEqual(rows, [{ doubled: i * 2, label: `run ${i}` }]);
        if (i === 2) assert.deepEqual(await preparedNames(db), before, 'not prepared before its third run');
      }
      const after = await preparedNames(db);
      assert.equal(after.length, before.length + 1);
      // A different text never reuses the name.
      const { rows } = await db.knex.raw('SELECT ?::int + 1 AS next', [41]);
      assert.deepEqual(rows, [{ next: 42 }]);
    } finally {
      await db.close();
    }
  });

  it('prepares a statement repeated inside transactions too (knex runs them on a client of its own)', async () => {
    const db = await oneConnection(true);
    try {
      const before = await preparedNames(db);
      for (let i = 1; i <= 4; i++) {
        const rows = await db.knex.transaction(async (trx) => (await trx.raw('SELECT ?::int * 3 AS tripled', [i])).rows);
        assert.deepEqual(rows, [{ tripled: i * 3 }]);
      }
      assert.equal((await preparedNames(db)).length, before.length + 1);
    } finally {
      await db.close();
    }
  });

  it('prepares nothing when turned off (DB_PREPARED_STATEMENTS=false, for poolers that cannot keep them)', async () => {
    const db = await oneConnection(false);
    try {
      for (let i = 0; i < 5; i++) await db.knex.raw('SELECT ?::int AS n', [i]);
      assert.deepEqual(await preparedNames(db), []);
    } finally {
      await db.close();
    }
  });

  it('keeps answering with every column after a migration changes a table under a prepared statement, preparing it anew', async () => {
    const db = await oneConnection(true);
    const table = `prepared_probe_${Date.now()}`;
    try {
      await db.knex.schema.createTable(table, (t) => { t.integer('a'); });
      await db.knex(table).insert({ a: 1 });
      const read = () => db.knex(table).select('*').where('a', 1);
      for (let i = 0; i < 4; i++) assert.deepEqual(await read(), [{ a: 1 }]);
      await db.knex.schema.alterTable(table, (t) => { t.text('b').defaultTo('x'); });
      // "cached plan must not change result type" on the old statement: run again under a new name.
      assert.deepEqual(await read(), [{ a: 1, b: 'x' }]);
      assert.deepEqual(await read(), [{ a: 1, b: 'x' }]);
      // In a transaction the failed statement has aborted it: that transaction fails, the next one is fine.
      const inTransaction = () => db.knex.transaction((trx) => trx(table).select('*').where('a', 1));
      for (let i = 0; i < 3; i++) assert.deepEqual(await inTransaction(), [{ a: 1, b: 'x' }]);
      await db.knex.schema.alterTable(table, (t) => { t.text('c').defaultTo('y'); });
      await inTransaction().then(
        (rows) => assert.deepEqual(rows, [{ a: 1, b: 'x', c: 'y' }]), // re-planned without complaint
        (err: Error) => assert.match(err.message, /cached plan/),
      );
      assert.deepEqual(await inTransaction(), [{ a: 1, b: 'x', c: 'y' }]);
    } finally {
      await db.knex.schema.dropTableIfExists(table);
      await db.close();
    }
  });
});
