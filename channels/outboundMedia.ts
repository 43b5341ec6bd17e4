/**
 * A stored voice message's audio, as the channels send it. POST /messages/voice
 * stores it in the message's metadata (`media`, models/mediaFiles.ts); the
 * dispatcher and the web chat's replay read it back with outboundMediaOf.
 */
import { storedMediaOf } from '../models/mediaFiles.js';
import { ProviderRefusedError, type OutboundMedia } from './types.js';

export type { StoredMedia } from '../models/mediaFiles.js';

/** The audio of a stored message, or null when it carries none. */
export function outboundMediaOf(metadata: Record<string, unknown> | null | undefined): OutboundMedia | null {
  const m = storedMediaOf(metadata);
  if (!m) return null;
  return { kind: 'audio', url: m.url, format: m.format, mimeType: m.mime_type, durationSeconds: m.duration_seconds, fileName: m.file_name };
}

/** A provider fetches the audio itself, so a path (no PUBLIC_URL) cannot work: refused before any call. */
export function requirePublicMediaUrl(media: OutboundMedia, provider: string): OutboundMedia {
  if (/^https?:\/\//i.test(media.url)) return media;
  throw new ProviderRefusedError(`the audio URL is not public: set PUBLIC_URL so ${provider} can fetch the file`, 'media_url_not_public');
}
