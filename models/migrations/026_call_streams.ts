/**
 * Calls heard over Twilio's Media Streams (VOICE_RECOGNITION=stream): how the
 * call was heard, and how the bot ended its stream, which the <Connect>
 * action reads to hang up or put the caller through; a stream that ended
 * without one (dropped, or our speech service failing) goes on with Twilio's
 * recognizer.
 */
import type { Knex } from 'knex';

export const CALL_RECOGNITIONS = ['twilio', 'stream'] as const;
export const STREAM_ENDINGS = ['hangup', 'transfer'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('calls', (t) => {
    t.text('recognition').notNullable().defaultTo('twilio');
    t.text('stream_ended');
  });
  await knex.raw(`ALTER TABLE calls ADD CONSTRAINT calls_recognition_check CHECK (recognition IN (${CALL_RECOGNITIONS.map((s) => `'${s}'`).join(', ')}))`);
  await knex.raw(`ALTER TABLE calls ADD CONSTRAINT calls_stream_ended_check CHECK (stream_ended IN (${STREAM_ENDINGS.map((s) => `'${s}'`).join(', ')}))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('calls', (t) => {
    t.dropColumn('stream_ended');
    t.dropColumn('recognition');
  });
}
