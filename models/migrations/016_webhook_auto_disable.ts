/**
 * Webhooks that keep failing are disabled automatically (models/webhookHealth.ts):
 * - failure_streak counts the webhook's deliveries marked failed (every attempt
 *   used) since its last success or since it was re-enabled; failing_since is
 *   when the first of them was marked failed. A counter on the webhook, not a
 *   query over deliveries: housekeeping deletes finished deliveries after 30
 *   days, and a success only has to reset two columns (and writes nothing when
 *   there is no streak).
 * - disabled_at and disabled_reason say when and why a webhook stopped: the
 *   reason is set when it was disabled automatically and null when an admin
 *   disabled it. An active webhook has neither. Webhooks disabled before this
 *   migration take their last update as the time.
 *
 * 'disabled' is already a status (012): the one an admin sets by hand. An
 * automatic disabling uses it too, so the claim and the trigger, which only
 * look at 'active', need no change, and an admin re-enables either the same way.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhooks', (t) => {
    t.integer('failure_streak').notNullable().defaultTo(0);
    t.timestamp('failing_since', { useTz: true });
    t.timestamp('disabled_at', { useTz: true });
    t.text('disabled_reason');
  });
  await knex.raw("UPDATE webhooks SET disabled_at = updated_at WHERE status = 'disabled'");
  await knex.raw(`ALTER TABLE webhooks ADD CONSTRAINT webhooks_disabled
    CHECK (status = 'disabled' OR (disabled_at IS NULL AND disabled_reason IS NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE webhooks DROP CONSTRAINT IF EXISTS webhooks_disabled');
  await knex.schema.alterTable('webhooks', (t) => {
    t.dropColumn('disabled_reason');
    t.dropColumn('disabled_at');
    t.dropColumn('failing_since');
    t.dropColumn('failure_streak');
  });
}
