/**
 * A patient's voice note, kept and heard: when a message is an audio file
 * without words and its channel can fetch it (EngineOptions.hearVoiceNote),
 * the file is kept for staff to listen to (an MP3, OGG or WAV; other formats,
 * such as AMR, are not), and when speech to text is configured the turn
 * plays on the words it carries, as if typed, stored as the message's
 * content so staff read what the patient said. Done outside any transaction:
 * it is network I/O, after the message is stored (the webhook's answer does
 * not wait for it).
 */
import type { Knex } from 'knex';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import { readAudioFacts } from '../../lib/audio.js';
import { voiceNoteAudio, type HearVoiceNote, type InboundMessage } from '../../lib/inbound.js';
import type { OrgScope } from '../../models/base.js';
import { recordVoiceNoteWords } from '../../models/messages.js';
import { keepVoiceNote } from '../../models/mediaFiles.js';

/** What of the engine's options this needs (EngineOptions). */
export interface VoiceNoteOptions { hearVoiceNote?: HearVoiceNote; logger: Logger; clock: Clock; mediaBaseUrl?: string }

/** The voice note's words, or null when the message is not one or could not be heard (the turn goes on as for any message without words). */
export async function hearVoiceNote(opts: VoiceNoteOptions, db: Knex, scope: OrgScope, msg: InboundMessage, messageId: string): Promise<string | null> {
  if (!opts.hearVoiceNote || !voiceNoteAudio(msg)) return null;
  try {
    const note = await opts.hearVoiceNote(msg);
    if (!note) return null;
    const words = note.words?.trim() || null;
    const facts = await readAudioFacts(note.audio);
    if (facts) await keepVoiceNote(db, scope, messageId, { bytes: note.audio, facts, words, baseUrl: opts.mediaBaseUrl ?? '', now: opts.clock.now() });
    else if (words) await recordVoiceNoteWords(db, scope, messageId, words);
    return words;
  } catch (err) {
    opts.logger.warn({ err_name: (err as Error).name, message_id: messageId, channel: msg.channel }, 'voice note not fetched or not heard');
    return null;
  }
}
