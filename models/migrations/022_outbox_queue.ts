/**
 * The outbox's queue as a table of its own. A queued outbound message is still
 * a `messages` row with status 'queued' (the dispatcher claims and locks that
 * row), and `outbox` holds one small entry per such row: where it goes and its
 * place in the queue. Triggers keep the two in step for every writer (the
 * engine, staff replies, bulk sends, reminders, voice, cancellations,
 * deletes), so no code path can queue a message the dispatcher never sees.
 *
 * Why: the queue's two partial indexes on `messages` named `status`, and
 * `messages_batch_status` keyed it (023 rekeys that one). A change of an indexed column is never a
 * heap-only update, so recording a send (queued -> sent) wrote a new row
 * version and a new entry in each of the table's indexes: four or five per
 * reply. With `status` in no index of `messages`, that record is heap-only
 * (webchat replies carry no provider id either), and leaving the queue is a
 * delete from `outbox`, which writes no index entry.
 *
 * The entry's key is the recipient's (organization, channel, address) and the
 * message's place in their conversation (created_at, id): it serves the
 * claim's per-recipient order check and the triggers' delete. The claim walks
 * the queue in arrival order (`seq`), an index that cannot serve that check:
 * read for it, one on created_at would walk every earlier queued message once
 * per candidate.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE outbox (
    organization_id text NOT NULL,
    channel text NOT NULL,
    -- A queued message without an address is kept ('' here) so the dispatcher fails it visibly.
    to_address text NOT NULL,
    created_at timestamptz NOT NULL,
    message_id text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (organization_id, channel, to_address, created_at, message_id)
  )`);
  await knex.raw('CREATE INDEX outbox_order ON outbox (seq)');
  // Entries come and go within seconds: vacuum them early so the claim's walk of the queue order stays short.
  await knex.raw('ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.05)');

  await knex.raw(`CREATE FUNCTION messages_outbox_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.status = 'queued' THEN
        DELETE FROM outbox WHERE organization_id = OLD.organization_id AND channel = OLD.channel
          AND to_address = coalesce(OLD.to_address, '') AND created_at = OLD.created_at AND message_id = OLD.id;
      END IF;
      IF TG_OP <> 'DELETE' AND NEW.status = 'queued' THEN
        INSERT INTO outbox (organization_id, channel, to_address, created_at, message_id)
        VALUES (NEW.organization_id, NEW.channel, coalesce(NEW.to_address, ''), NEW.created_at, NEW.id);
      END IF;
      RETURN NULL;
    END $$`);
  await knex.raw(`CREATE TRIGGER messages_outbox_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION messages_outbox_sync()`);
  // A claim or a retry keeps the row queued where it was: no call. Only entering or leaving the queue, or moving in it.
  await knex.raw(`CREATE TRIGGER messages_outbox_update AFTER UPDATE ON messages
    FOR EACH ROW WHEN ((OLD.status = 'queued' OR NEW.status = 'queued') AND (OLD.status IS DISTINCT FROM NEW.status
      OR OLD.organization_id IS DISTINCT FROM NEW.organization_id OR OLD.channel IS DISTINCT FROM NEW.channel
      OR OLD.to_address IS DISTINCT FROM NEW.to_address OR OLD.created_at IS DISTINCT FROM NEW.created_at))
    EXECUTE FUNCTION messages_outbox_sync()`);
  await knex.raw(`CREATE TRIGGER messages_outbox_delete AFTER DELETE ON messages
    FOR EACH ROW WHEN (OLD.status = 'queued') EXECUTE FUNCTION messages_outbox_sync()`);

  // The triggers hold messages against writes from here to the commit, so nothing queued is missed.
  await knex.raw(`INSERT INTO outbox (organization_id, channel, to_address, created_at, message_id)
    SELECT organization_id, channel, coalesce(to_address, ''), created_at, id FROM messages WHERE status = 'queued' ORDER BY created_at, id`);
  await knex.raw('DROP INDEX IF EXISTS messages_outbox_order');
  await knex.raw('DROP INDEX IF EXISTS messages_outbox_recipient');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX IF NOT EXISTS messages_outbox_order ON messages (created_at, id) WHERE direction = 'outbound' AND status IN ('queued', 'sending')`);
  await knex.raw(`CREATE INDEX IF NOT EXISTS messages_outbox_recipient ON messages (organization_id, channel, to_address, created_at, id) WHERE status = 'queued'`);
  for (const t of ['insert', 'update', 'delete']) await knex.raw(`DROP TRIGGER IF EXISTS messages_outbox_${t} ON messages`);
  await knex.raw('DROP FUNCTION IF EXISTS messages_outbox_sync()');
  await knex.raw('DROP TABLE IF EXISTS outbox');
}
