/**
 * Webhooks out: an organization's subscriptions, and one delivery row per
 * (subscription, event), the queue the delivery job claims from.
 *
 * Deliveries are written by a trigger on `events`, in the transaction that
 * records the event: every writer of events (single inserts, the dispatcher's
 * bulk CTEs, reminders) is covered without knowing about webhooks, a rolled
 * back change delivers nothing, and an event committed late is never skipped
 * (which a job reading events after a cursor could not promise). With no
 * subscription the trigger costs one probe of an empty index. When it queues
 * something it NOTIFYs at commit, so deliveries start at once.
 *
 * `events.processed_at` and its partial index were for a job that marked
 * events as handled; nothing marks them, and the index only cost every event
 * an index insertion.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhooks', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('url').notNullable();
    t.text('description');
    t.specificType('events', 'text[]').notNullable();
    t.text('secret').notNullable();
    t.text('status').notNullable().defaultTo('active');
    t.text('created_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'created_at']);
  });
  await knex.raw("ALTER TABLE webhooks ADD CONSTRAINT webhooks_status CHECK (status IN ('active', 'disabled'))");
  await knex.raw("CREATE INDEX webhooks_active ON webhooks (organization_id) WHERE status = 'active'");

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('webhook_id').notNullable().references('webhooks.id').onDelete('CASCADE');
    t.text('event_id').notNullable().references('events.id').onDelete('CASCADE');
    t.text('event').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    // Due time; a claim moves it to the end of its lease, so a crashed sender's delivery is retaken after it.
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('response_status');
    t.integer('response_ms');
    t.text('last_error');
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['webhook_id', 'event_id']);
    t.index(['webhook_id', 'created_at']);
  });
  await knex.raw("ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'succeeded', 'failed'))");
  await knex.raw("CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'");

  // Delivery ids: `dlv_` + the event id's 10 time characters + 16 random hex characters (valid Crockford
  // base32), so deliveries sort with their events like every other id.
  await knex.raw(`
    CREATE FUNCTION queue_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO webhook_deliveries (id, organization_id, webhook_id, event_id, event)
      SELECT 'dlv_' || substr(NEW.id, 5, 10) || upper(substr(md5(random()::text || w.id || NEW.id), 1, 16)),
             NEW.organization_id, w.id, NEW.id, NEW.event
      FROM webhooks w
      WHERE w.organization_id = NEW.organization_id AND w.status = 'active' AND NEW.event = ANY (w.events);
      IF FOUND THEN
        PERFORM pg_notify('carechat_webhooks', NEW.organization_id);
      END IF;
      RETURN NULL;
    END
    $$`);
  await knex.raw('CREATE TRIGGER events_queue_webhook_deliveries AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION queue_webhook_deliveries()');
  await knex.raw('DROP INDEX IF EXISTS events_unprocessed');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS events_unprocessed ON events (created_at) WHERE processed_at IS NULL');
  await knex.raw('DROP TRIGGER IF EXISTS events_queue_webhook_deliveries ON events');
  await knex.raw('DROP FUNCTION IF EXISTS queue_webhook_deliveries()');
  await knex.schema.dropTableIfExists('webhook_deliveries');
  await knex.schema.dropTableIfExists('webhooks');
}
