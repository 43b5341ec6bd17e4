/**
 * A webhook's health: its streak of deliveries that failed for good, and
 * automatic disabling once the streak shows the receiver is gone, as Stripe
 * and GitHub do, instead of sending it every event, four times each, forever.
 *
 * The rule: when a delivery is marked failed (every attempt used), the
 * webhook is disabled if its last WEBHOOK_DISABLE_AFTER_FAILURES finished
 * deliveries all failed AND the first of those was marked failed at least
 * WEBHOOK_DISABLE_AFTER_MS ago. Both, because either alone misjudges: a
 * count alone disables a busy webhook after one bad deploy (five events fail
 * within a single 21-minute retry schedule), and a time alone disables a
 * quiet one after two failures a day apart. A success, or an admin
 * re-enabling it, starts the streak over.
 *
 * Times are the database's (now()), like the rest of the delivery queue.
 */
import type { Knex } from 'knex';
import { recordEvent, type Db } from './base.js';
import { WEBHOOK_DISABLED_EVENT } from './webhooks.js';
import { newId } from '../lib/ids.js';

/** Consecutive deliveries that must have failed for good before a webhook is disabled. */
export const WEBHOOK_DISABLE_AFTER_FAILURES = 5;
/** How long those failures must have gone on: from the first of them being marked failed. */
export const WEBHOOK_DISABLE_AFTER_MS = 24 * 3_600_000;

/** Which webhook a finished delivery belonged to. */
export interface FinishedDelivery {
  organization_id: string;
  webhook_id: string;
}

/**
 * Notes how a delivery finished, in the transaction that recorded it. A
 * success ends the webhook's failure streak (and writes nothing when there is
 * none). A failure extends it and, when the rule above is met, disables the
 * webhook with a reason and records a `webhook.disabled` event. The status
 * changes before the event is written, so the trigger of migration 012
 * queues that event for the organization's other subscribers, never for this
 * webhook. Returns true when it disabled the webhook.
 */
export async function noteDeliveryFinished(db: Db, d: FinishedDelivery, outcome: { ok: boolean; error: string | null }): Promise<boolean> {
  const k = db as Knex;
  const webhook = { id: d.webhook_id, organization_id: d.organization_id };
  if (outcome.ok) {
    await k('webhooks').where(webhook).where('failure_streak', '>', 0).update({ failure_streak: 0, failing_since: null });
    return false;
  }
  // A webhook already disabled (by hand, while this delivery was out) keeps its streak as it was.
  const [streak] = (await k('webhooks').where(webhook).where({ status: 'active' })
    .update({ failure_streak: k.raw('failure_streak + 1'), failing_since: k.raw('coalesce(failing_since, now())') })
    .returning(['failure_streak', 'failing_since', k.raw('failing_since <= now() - make_interval(secs => ?) AS long_enough', [WEBHOOK_DISABLE_AFTER_MS / 1000])])) as
    { failure_streak: number; failing_since: Date; long_enough: boolean }[];
  if (!streak || streak.failure_streak < WEBHOOK_DISABLE_AFTER_FAILURES || !streak.long_enough) return false;

  const since = new Date(streak.failing_since).toISOString();
  const reason = `Disabled automatically: ${streak.failure_streak} deliveries in a row failed after every retry, the first at ${since} `
    + `(last error: ${(outcome.error ?? 'unknown').slice(0, 200)})`;
  const [{ disabled_at: disabledAt }] = (await k('webhooks').where(webhook)
    .update({ status: 'disabled', disabled_reason: reason, disabled_at: k.fn.now(), updated_at: k.fn.now() })
    .returning(['disabled_at'])) as { disabled_at: Date }[];
  await recordEvent(k, d.organization_id, WEBHOOK_DISABLED_EVENT, d.webhook_id, {
    webhook_id: d.webhook_id,
    status: 'disabled',
    disabled_reason: reason,
    disabled_at: new Date(disabledAt).toISOString(),
    failed_deliveries: streak.failure_streak,
    failing_since: since,
  }, newId('event'));
  return true;
}
