/**
 * A patient's voice note, heard: when a message is an audio file without
 * words and speech to text is configured (EngineOptions.hearVoiceNote), the
 * turn plays on the words it carries, as if typed, and they are stored as the
 * message's content so staff read what the patient said. Heard outside any
 * transaction: it is network I/O, after the message is stored (the webhook's
 * answer does not wait for it).
 */
import type { Knex } from 'knex';
import type { Logger } from '../../lib/logger.js';
import { voiceNoteAudio, type HearVoiceNote, type InboundMessage } from '../../lib/inbound.js';
import type { OrgScope } from '../../models/base.js';
import { recordVoiceNoteWords } from '../../models/messages.js';

/** The voice note's words, or null when the message is not one or could not be heard (the turn goes on as for any message without words). */
export async function hearVoiceNote(hear: HearVoiceNote, db: Knex, logger: Logger, scope: OrgScope, msg: InboundMessage, messageId: string): Promise<string | null> {
  if (!voiceNoteAudio(msg)) return null;
  try {
    const words = (await hear(msg))?.trim();
    if (!words) return null;
    await recordVoiceNoteWords(db, scope, messageId, words);
    return words;
  } catch (err) {
    logger.warn({ err_name: (err as Error).name, message_id: messageId, channel: msg.channel }, 'voice note not heard');
    return null;
  }
}
