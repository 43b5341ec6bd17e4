/**
 * What an uploaded audio file is, from its bytes, never from its name or
 * declared type: MP3, OGG (Opus or Vorbis) or WAV, and how long
 * (music-metadata reads the container and its duration).
 */
import { parseBuffer } from 'music-metadata';

/** The audio formats a voice message may have (POST /messages/voice). */
export type AudioFormat = 'mp3' | 'ogg' | 'wav';

export interface AudioFacts { format: AudioFormat; durationMs: number | null }

/**
 * The format the file's first bytes announce. Told to music-metadata as a file
 * name, so it parses with that format's reader (its own guess goes through a
 * Content-Type parser that a TypeScript loader's module interop breaks).
 */
function announcedFormat(bytes: Buffer): AudioFormat | null {
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WAVE') return 'wav';
  if (bytes.toString('latin1', 0, 4) === 'OggS') return 'ogg';
  // An ID3v2 tag, or an MPEG audio frame's sync word.
  if (bytes.toString('latin1', 0, 3) === 'ID3' || (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0)) return 'mp3';
  return null;
}

/** The container and codecs each format admits (music-metadata's names). */
function confirmed(format: AudioFormat, container: string | undefined, codec: string | undefined): boolean {
  if (format === 'mp3') return container === 'MPEG' && /layer 3/i.test(codec ?? '');
  if (format === 'wav') return container === 'WAVE';
  return container === 'Ogg' && /opus|vorbis/i.test(codec ?? '');
}

/** The format and duration of `bytes`, or null when they are not an MP3, OGG or WAV file that can be read. */
export async function readAudioFacts(bytes: Buffer): Promise<AudioFacts | null> {
  const announced = announcedFormat(bytes);
  if (!announced) return null;
  try {
    const { format } = await parseBuffer(bytes, { path: `upload.${announced}` }, { duration: true, skipCovers: true });
    if (!confirmed(announced, format.container, format.codec)) return null;
    const seconds = format.duration;
    return { format: announced, durationMs: typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : null };
  } catch {
    return null;
  }
}
