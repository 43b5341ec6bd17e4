/**
 * Fetches patients' voice notes for the engine (EngineOptions.hearVoiceNote):
 * the channel the note came on downloads it from the provider
 * (ChannelAdapter.fetchMedia), so staff can listen to it, and the
 * transcriber, when configured, listens to it (lib/transcription.ts), in
 * whatever language the patient spoke.
 */
import { voiceNoteAudio, type HearVoiceNote } from '../lib/inbound.js';
import type { Transcriber } from '../lib/transcription.js';
import type { ChannelAdapter } from './types.js';

/** Speech-to-text services take files up to 25 MB; a voice note is far smaller (WhatsApp caps audio at 16 MB). */
export const MAX_VOICE_NOTE_BYTES = 16 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 15_000;

/** The file name extension the transcription service knows each audio type by; null for what it cannot read (AMR...). */
function extensionOf(contentType: string): string | null {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const known: Record<string, string> = {
    'audio/ogg': 'ogg', 'audio/opus': 'ogg', 'audio/mpeg': 'mp3', 'audio/mp3': 'mp3', 'audio/mp4': 'm4a', 'audio/x-m4a': 'm4a',
    'audio/m4a': 'm4a', 'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/wave': 'wav', 'audio/webm': 'webm', 'audio/flac': 'flac',
  };
  return known[type] ?? null;
}

export function voiceNoteListener(opts: { adapters: readonly ChannelAdapter[]; transcriber: Transcriber | null }): HearVoiceNote {
  return async (msg) => {
    const adapter = opts.adapters.find((a) => a.name === msg.channel);
    const audio = voiceNoteAudio(msg);
    if (!adapter?.fetchMedia || !audio) return null;
    const file = await adapter.fetchMedia(audio, { maxBytes: MAX_VOICE_NOTE_BYTES, timeoutMs: DOWNLOAD_TIMEOUT_MS });
    const extension = extensionOf(file.contentType) ?? extensionOf(audio.contentType);
    const heard = opts.transcriber && extension
      ? await opts.transcriber.transcribe({ bytes: file.bytes, fileName: `voice-note.${extension}`, mimeType: file.contentType.split(';')[0]!.trim() }, null)
      : null;
    return { audio: file.bytes, contentType: file.contentType, words: heard?.text ?? null };
  };
}
