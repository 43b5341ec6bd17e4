/**
 * Driving the webhook delivery queue from a test: subscribe through the API,
 * read a webhook's deliveries, send them with a sender for one organization,
 * and let time pass on the database's clock (deliveries run on it).
 */
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.js';
import { WEBHOOK_MAX_ATTEMPTS, WebhookDelivery } from '../../models/webhookDeliveries.js';
import { queueTestDelivery } from '../../models/webhooks.js';
import { WebhookDeliveryJob } from '../../schedulers/webhookDeliveries.js';
import type { TestOrg } from './factories.js';

export async function subscribe(t: TestOrg, url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const res = await t.admin.client.post('/api/v1/webhooks', { url, events });
  assert.equal(res.status, 201);
  return res.body.data;
}

export const deliveriesOf = (t: TestOrg, webhookId: string) =>
  WebhookDelivery.query(t.svc.deps.db.knex).where({ organization_id: t.org.id, webhook_id: webhookId }).orderBy('created_at');

/** Waits until the webhook's deliveries satisfy `done` (the shared service sends them on its own). */
export async function until(t: TestOrg, webhookId: string, done: (d: WebhookDelivery[]) => boolean, timeoutMs = 5_000): Promise<WebhookDelivery[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await deliveriesOf(t, webhookId);
    if (done(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`deliveries not as expected: ${JSON.stringify(rows.map((r) => [r.status, r.attempts]))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A sender for this organization only. */
export function sender(t: TestOrg, timeoutMs = 2_000): WebhookDeliveryJob {
  return new WebhookDeliveryJob({
    db: t.svc.deps.db, logger: createLogger('silent'), schedule: '0 0 0 1 1 *', timeoutMs, organizationIds: [t.org.id],
  });
}

/** Time passes: the delivery's next attempt falls due now (deliveries run on the database's clock). */
export async function fallDue(t: TestOrg, deliveryId: string): Promise<void> {
  await t.svc.deps.db.knex('webhook_deliveries').where({ organization_id: t.org.id, id: deliveryId })
    .update({ next_attempt_at: t.svc.deps.db.knex.raw("now() - interval '1 second'") });
}

/**
 * Sends `n` deliveries to a failing receiver through every attempt, until
 * each is marked failed; returns their ids. They are `webhook.test`
 * deliveries, queued without a notification, so only this test's sender
 * sends them, one attempt per round, each falling due in turn.
 */
export async function failForGood(t: TestOrg, webhookId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await queueTestDelivery(t.svc.deps.db.knex, { organizationId: t.org.id }, webhookId));
  const job = sender(t);
  for (let attempt = 1; attempt <= WEBHOOK_MAX_ATTEMPTS; attempt++) {
    for (const id of ids) await fallDue(t, id);
    await job.tick();
  }
  const rows = (await deliveriesOf(t, webhookId)).filter((d) => ids.includes(d.id));
  assert.deepEqual(rows.map((d) => d.status), ids.map(() => 'failed'), 'every attempt used');
  return ids;
}

/** Time passes: the webhook's current failure streak began `ago` (a PostgreSQL interval) before the database's now. */
export async function streakBegan(t: TestOrg, webhookId: string, ago: string): Promise<void> {
  const knex = t.svc.deps.db.knex;
  const n = await knex('webhooks').where({ organization_id: t.org.id, id: webhookId }).whereNotNull('failing_since')
    .update({ failing_since: knex.raw('now() - ?::interval', [ago]) });
  assert.equal(n, 1, 'the webhook has a failure streak');
}

/** The database's clock, for times the database wrote. */
export async function databaseNow(t: TestOrg): Promise<Date> {
  const { rows } = (await t.svc.deps.db.knex.raw('SELECT now() AS now')) as { rows: { now: Date | string }[] };
  return new Date(rows[0]!.now);
}
