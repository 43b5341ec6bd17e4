import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase, type Database } from '../../models/db.js';

const channel = () => `test_${randomBytes(4).toString('hex')}`;

/** Notifies `payload` on `name` every 50 ms until `received` holds it; fails after 10 s. */
async function notifyUntilHeard(db: Database, name: string, payload: string, received: string[]): Promise<void> {
  for (const deadline = Date.now() + 10_000; !received.includes(payload);) {
    if (Date.now() > deadline) assert.fail(`"${payload}" was not heard on ${name} within 10 s (heard: ${JSON.stringify(received)})`);
    await db.knex.raw('select pg_notify(?, ?)', [name, payload]);
    await sleep(50);
  }
}

describe('notifications between instances (models/db listen)', () => {
  let db: Database;
  beforeEach(async () => { db = await openDatabase({ url: process.env.DATABASE_URL, dataDir: 'memory://', poolMax: 2 }); });
  afterEach(async () => { await db.close(); });

  it('delivers a notification to each handler of its channel, only after the transaction that sent it commits, and none after unsubscribing', async () => {
    const [a, b] = [channel(), channel()];
    const first: string[] = [];
    const second: string[] = [];
    const other: string[] = [];
    const unlistenFirst = await db.listen(a, (p) => first.push(p));
    await db.listen(a, (p) => second.push(p));
    await db.listen(b, (p) => other.push(p));
    await db.knex.transaction(async (trx) => {
      await trx.raw('select pg_notify(?, ?)', [a, 'in a transaction']);
      await sleep(100);
      assert.deepEqual(first, [], 'not before the commit');
    });
    await notifyUntilHeard(db, a, 'after', first);
    assert.deepEqual(first, ['in a transaction', 'after']);
    assert.deepEqual(second.slice(0, 2), ['in a transaction', 'after']);
    assert.deepEqual(other, []);
    await unlistenFirst();
    await notifyUntilHeard(db, a, 'later', second);
    assert.deepEqual(first, ['in a transaction', 'after']);
  });

  it('keeps listening when its connection is lost (on PostgreSQL the listening backend is terminated; it reconnects and listens again)', async () => {
    const name = channel();
    const received: string[] = [];
    await db.listen(name, (p) => received.push(p));
    await notifyUntilHeard(db, name, 'before', received);
    if (db.kind === 'postgres') {
      const { rows } = (await db.knex.raw('select pg_terminate_backend(pid) as terminated from pg_stat_activity where query = ?', [`LISTEN "${name}"`])) as { rows: { terminated: boolean }[] };
      assert.deepEqual(rows, [{ terminated: true }], 'the listening backend was found and terminated');
    }
    await notifyUntilHeard(db, name, 'after the connection was lost', received);
  });
});
