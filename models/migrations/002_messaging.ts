import type { Knex } from 'knex';

/**
 * Conversations, every inbound and outbound message (the outbox), and staff
 * tickets. Outbound rows are claimed by the dispatcher with SKIP LOCKED.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('conversations', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('patient_id').references('patients.id');
    t.text('channel').notNullable();
    // The patient's address on that channel: E.164 phone, Telegram chat id, web chat session id.
    t.text('channel_address').notNullable();
    t.text('status').notNullable().defaultTo('bot');
    t.text('assignee_user_id').references('users.id');
    t.text('language');
    t.integer('message_count').notNullable().defaultTo(0);
    t.text('summary');
    t.text('intent');
    t.text('sentiment');
    t.boolean('escalated').notNullable().defaultTo(false);
    t.jsonb('dialogue_state');
    // Bumped on every dialogue update: concurrent turns of one conversation never lose an update.
    t.integer('state_version').notNullable().defaultTo(0);
    t.timestamp('last_message_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('closed_at', { useTz: true });
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organization_id', 'created_at']);
    t.index(['organization_id', 'patient_id']);
  });
  await knex.raw(`ALTER TABLE conversations ADD CONSTRAINT conversations_status_check CHECK (status IN ('bot', 'handoff', 'closed'))`);
  // At most one open conversation per patient address and channel.
  await knex.raw(`CREATE UNIQUE INDEX conversations_open_unique ON conversations (organization_id, channel, channel_address)
    WHERE status <> 'closed' AND deleted_at IS NULL`);

  await knex.schema.createTable('messages', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('conversation_id').references('conversations.id').onDelete('CASCADE');
    t.text('patient_id').references('patients.id');
    t.text('channel').notNullable();
    t.text('direction').notNullable();
    t.text('sender').notNullable();
    t.text('sender_user_id');
    t.text('content_type').notNullable().defaultTo('text');
    t.text('content').notNullable().defaultTo('');
    t.jsonb('options');
    t.text('to_address');
    t.text('from_address');
    t.text('status').notNullable();
    t.text('provider_message_id');
    t.text('client_message_id');
    t.integer('attempts').notNullable().defaultTo(0);
    t.integer('max_attempts').notNullable().defaultTo(5);
    t.timestamp('next_attempt_at', { useTz: true });
    t.timestamp('claimed_until', { useTz: true });
    t.text('last_error');
    t.text('batch_id');
    t.text('reminder_id');
    t.jsonb('metadata').notNullable().defaultTo('{}');
    t.timestamp('sent_at', { useTz: true });
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('read_at', { useTz: true });
    t.timestamp('failed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['conversation_id', 'created_at']);
    t.index(['organization_id', 'created_at']);
    t.index(['batch_id', 'status']);
  });
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_direction_check CHECK (direction IN ('inbound', 'outbound'))`);
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_sender_check CHECK (sender IN ('patient', 'assistant', 'staff', 'system'))`);
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled'))`);
  // A provider's redelivery of an inbound message is stored once and answered once.
  await knex.raw(`CREATE UNIQUE INDEX messages_inbound_provider_unique ON messages (organization_id, channel, provider_message_id)
    WHERE direction = 'inbound' AND provider_message_id IS NOT NULL`);
  await knex.raw(`CREATE UNIQUE INDEX messages_inbound_client_unique ON messages (conversation_id, client_message_id)
    WHERE direction = 'inbound' AND client_message_id IS NOT NULL`);
  // Status callbacks find the outbound row by the provider's id.
  await knex.raw(`CREATE INDEX messages_outbound_provider ON messages (channel, provider_message_id) WHERE direction = 'outbound' AND provider_message_id IS NOT NULL`);
  // The dispatcher's claim query.
  await knex.raw(`CREATE INDEX messages_outbox ON messages (next_attempt_at) WHERE direction = 'outbound' AND status IN ('queued', 'sending')`);

  await knex.schema.createTable('tickets', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.integer('number').notNullable();
    t.text('patient_id').references('patients.id');
    t.text('conversation_id').references('conversations.id').onDelete('SET NULL');
    t.text('category').notNullable().defaultTo('general');
    t.text('priority').notNullable().defaultTo('medium');
    t.text('status').notNullable().defaultTo('open');
    t.text('title').notNullable();
    t.text('description');
    t.text('assigned_to').references('users.id');
    t.text('created_by');
    t.text('source').notNullable().defaultTo('api');
    t.text('resolution');
    t.text('resolved_by');
    t.timestamp('resolved_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['organization_id', 'number']);
    t.index(['organization_id', 'status', 'created_at']);
  });
  await knex.raw(`ALTER TABLE tickets ADD CONSTRAINT tickets_category_check CHECK (category IN ('billing', 'appointment', 'medical', 'technical', 'general', 'emergency', 'results', 'complaint'))`);
  await knex.raw(`ALTER TABLE tickets ADD CONSTRAINT tickets_priority_check CHECK (priority IN ('low', 'medium', 'high', 'urgent'))`);
  await knex.raw(`ALTER TABLE tickets ADD CONSTRAINT tickets_status_check CHECK (status IN ('open', 'in_progress', 'resolved', 'closed'))`);

  await knex.schema.createTable('ticket_comments', (t) => {
    t.text('id').primary();
    t.text('organization_id').notNullable().references('organizations.id').onDelete('CASCADE');
    t.text('ticket_id').notNullable().references('tickets.id').onDelete('CASCADE');
    t.text('author_id');
    t.text('author_type').notNullable().defaultTo('user');
    t.text('content').notNullable();
    t.boolean('is_internal').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['ticket_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['ticket_comments', 'tickets', 'messages', 'conversations']) await knex.schema.dropTableIfExists(table);
}
