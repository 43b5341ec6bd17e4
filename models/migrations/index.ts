/**
 * Migrations are imported statically (not discovered on disk) so the same list
 * runs under tsx, after a build, and on both database backends.
 */
import type { Knex } from 'knex';
import * as core from './001_core.js';
import * as messaging from './002_messaging.js';
import * as communications from './006_communications.js';
import * as webchat from './007_webchat.js';
import * as reminders from './008_reminders.js';
import * as messageIndexes from './009_message_indexes.js';
import * as outboxRecipient from './010_outbox_recipient.js';
import * as turnWriteCosts from './011_turn_write_costs.js';
import * as webhooks from './012_webhooks.js';
import * as housekeeping from './013_housekeeping.js';
import * as appointmentEnd from './014_appointment_end.js';
import * as outboxLease from './015_outbox_lease.js';
import * as webhookAutoDisable from './016_webhook_auto_disable.js';
import * as outboxRecipientQueued from './017_outbox_recipient_queued.js';
import * as activeAppointmentsByDoctor from './018_active_appointments_by_doctor.js';
import * as conversationsByAddress from './019_conversations_by_address.js';
import * as encryptionKeys from './020_encryption_keys.js';
import * as calls from './021_calls.js';
import * as eventsSealedFields from './022_events_sealed_fields.js';
import * as openCalls from './023_open_calls.js';
import * as outboxBulkLast from './024_outbox_bulk_last.js';
import * as mediaFiles from './025_media_files.js';
import * as callStreams from './026_call_streams.js';

/** `config.transaction: false`: the migration runs outside a transaction (CREATE INDEX CONCURRENTLY). */
interface Migration { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void>; config?: { transaction?: boolean } }

const migrations: Record<string, Migration> = {
  '001_core': core,
  '002_messaging': messaging,
  '006_communications': communications,
  '007_webchat': webchat,
  '008_reminders': reminders,
  '009_message_indexes': messageIndexes,
  '010_outbox_recipient': outboxRecipient,
  '011_turn_write_costs': turnWriteCosts,
  '012_webhooks': webhooks,
  '013_housekeeping': housekeeping,
  '014_appointment_end': appointmentEnd,
  '015_outbox_lease': outboxLease,
  '016_webhook_auto_disable': webhookAutoDisable,
  '017_outbox_recipient_queued': outboxRecipientQueued,
  '018_active_appointments_by_doctor': activeAppointmentsByDoctor,
  '019_conversations_by_address': conversationsByAddress,
  '020_encryption_keys': encryptionKeys,
  '021_calls': calls,
  '022_events_sealed_fields': eventsSealedFields,
  '023_open_calls': openCalls,
  '024_outbox_bulk_last': outboxBulkLast,
  '025_media_files': mediaFiles,
  '026_call_streams': callStreams,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
