import assert from 'node:assert/strict';
import { buildPatient, createTestOrg, type TestOrg } from '../support/factories.js';
import { queueOutboundMessage, type Message } from '../../models/messages.js';
import { claimOutbound, claimStatement, markFailed, markRetry, markSentMany, markSkipped } from '../../models/outbox.js';
import { cancelBatch, createBulkSend } from '../../models/communications.js';

async function queue(t: TestOrg, to: string, text = 'See you tomorrow at 10:00.'): Promise<Message> {
  return queueOutboundMessage(t.svc.deps.db.knex, { organizationId: t.org.id }, { channel: 'telegram', to, text, sender: 'assistant' });
}

/** The organization's queue entries (migration 022), in queue order. */
const outbox = (t: TestOrg) =>
  t.svc.deps.db.knex('outbox').where({ organization_id: t.org.id }).orderBy('seq').pluck('message_id') as Promise<string[]>;

async function claimAll(t: TestOrg) {
  const { messages } = await claimOutbound(t.svc.deps.db.knex, { limit: 50, leaseSeconds: 60, now: new Date(), organizationIds: [t.org.id] });
  return new Map(messages.map((m) => [m.id, { id: m.id, attempts: m.attempts }]));
}

describe('the outbox queue (migration 022)', () => {
  it('holds one entry per queued message, in queue order, until the message is sent, failed or skipped; a claim or a retry keeps it', async () => {
    const t = await createTestOrg();
    const [a, b, c, d] = [await queue(t, 'q-1'), await queue(t, 'q-2'), await queue(t, 'q-3'), await queue(t, 'q-4')];
    assert.deepEqual(await outbox(t), [a.id, b.id, c.id, d.id]);
    const claims = await claimAll(t);
    assert.equal(claims.size, 4);
    assert.deepEqual(await outbox(t), [a.id, b.id, c.id, d.id], 'claimed messages are still queued (a lease, not a status)');

    const knex = t.svc.deps.db.knex;
    assert.deepEqual([...await markSentMany(knex, [{ claim: claims.get(a.id)!, providerMessageId: null, status: 'sent', at: new Date() }])], [a.id]);
    assert.ok(await markRetry(knex, claims.get(b.id)!, 'unreachable: timeout', new Date(Date.now() + 60_000)));
    assert.ok(await markFailed(knex, claims.get(c.id)!, 'refused: blocked'));
    assert.ok(await markSkipped(knex, claims.get(d.id)!, 'opted_out'));
    assert.deepEqual(await outbox(t), [b.id], 'only the message waiting for its retry is left');
  });

  it('loses the entries of messages cancelled with their batch or conversation, and of messages deleted', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const scope = { organizationId: t.org.id };
    const patients = [await buildPatient(t), await buildPatient(t), await buildPatient(t)];
    const view = await knex.transaction((trx) => createBulkSend(trx, scope, {
      patientIds: patients.map((p) => p.id), channel: 'sms', message: 'Closed on Friday', createdBy: null, sender: 'staff', now: new Date(),
    }));
    const lone = await queue(t, 'q-lone');
    assert.equal((await outbox(t)).length, 4, 'three recipients of the batch and one message');
    await cancelBatch(knex, scope, view.batch.id);
    assert.deepEqual(await outbox(t), [lone.id]);
    await knex('messages').where({ id: lone.id }).delete();
    assert.deepEqual(await outbox(t), []);
  });

  it('moves an entry with its message when the address changes, and gives an addressless message an entry so it fails visibly', async () => {
    const t = await createTestOrg();
    const knex = t.svc.deps.db.knex;
    const m = await queue(t, 'q-old');
    await knex('messages').where({ id: m.id }).update({ to_address: 'q-new' });
    assert.deepEqual(await knex('outbox').where({ message_id: m.id }).pluck('to_address'), ['q-new']);
    await knex('messages').where({ id: m.id }).update({ to_address: null });
    assert.deepEqual(await knex('outbox').where({ message_id: m.id }).pluck('to_address'), ['']);
  });

  it('records a send without touching any indexed column of messages (a heap-only update)', async () => {
    // What markSentMany and the claim change on a web chat reply (no provider id): none may be in an index's key,
    // expression or predicate, or every record writes a new row version and an entry in each index.
    const changed = ['status', 'sent_at', 'delivered_at', 'last_error', 'next_attempt_at', 'claimed_until', 'attempts', 'updated_at'];
    const t = await createTestOrg();
    const { rows } = (await t.svc.deps.db.knex.raw(
      `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class r ON r.oid = i.indrelid
       WHERE r.relname = 'messages' AND r.relnamespace = to_regnamespace(current_schema())`,
    )) as { rows: { name: string; def: string }[] };
    assert.ok(rows.length >= 5, `the messages indexes are read (${rows.length})`);
    const offending = rows.flatMap(({ name, def }) => changed.filter((col) => new RegExp(`\\b${col}\\b`).test(def)).map((col) => `${name}: ${col}`));
    assert.deepEqual(offending, []);
  });

  it('commits a claim without waiting for the disk flush (synchronous_commit off for its own transaction only)', async () => {
    const t = await createTestOrg();
    const m = await queue(t, 'q-async');
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
