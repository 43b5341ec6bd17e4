/**
 * An inbound WhatsApp media file (a voice note) by its media id, as the Cloud
 * API serves it: GET {WHATSAPP_API_BASE_URL}/{media id} answers
 * `{url, mime_type, file_size, id}` (the url lives about 5 minutes), then GET
 * that url gives the bytes; both with the access token as a Bearer token.
 */
import type { Config } from '../../lib/config.js';
import { MediaFetchError } from '../types.js';
import { downloadMedia, getJson, mediaRef, pickContentType, statusError, tooLarge, type DownloadOptions } from '../mediaDownload.js';

export const WHATSAPP_MEDIA_SCHEME = 'whatsapp-media:';

const PROVIDER = 'Graph API';

interface GraphMedia { url?: unknown; mime_type?: unknown; file_size?: unknown; error?: { message?: string; code?: number } }

export async function fetchWhatsAppMedia(
  config: Config,
  media: { url: string; contentType: string },
  limits: { maxBytes: number; timeoutMs: number },
): Promise<{ bytes: Buffer; contentType: string }> {
  const id = mediaRef(media.url, WHATSAPP_MEDIA_SCHEME, PROVIDER);
  if (!config.WHATSAPP_ACCESS_TOKEN) throw new MediaFetchError('whatsapp channel not configured: set WHATSAPP_ACCESS_TOKEN', 'refused');
  const opts: DownloadOptions = {
    provider: PROVIDER, ...limits, signal: AbortSignal.timeout(limits.timeoutMs),
    authorization: `Bearer ${config.WHATSAPP_ACCESS_TOKEN}`, authAfterRedirect: 'same-origin',
  };
  const info = await mediaInfo(config, id, opts);
  // Graph tells the size first: a voice note too long to transcribe is never downloaded.
  if (info.fileSize !== null && info.fileSize > limits.maxBytes) throw tooLarge(PROVIDER, info.fileSize, limits.maxBytes);
  const file = await downloadMedia(info.url, { ...opts, provider: 'WhatsApp media server' });
  return { bytes: file.bytes, contentType: pickContentType([info.mimeType, file.contentType], media.contentType) };
}

/** The media's download URL, type and size from Graph; its error (an expired or unknown id: 100, a bad token: 190) as a refusal. */
async function mediaInfo(config: Config, id: string, opts: DownloadOptions): Promise<{ url: string; mimeType: string | null; fileSize: number | null }> {
  const base = config.WHATSAPP_API_BASE_URL.replace(/\/+$/, '');
  const { status, body } = await getJson(`${base}/${encodeURIComponent(id)}`, opts);
  const info = (body ?? {}) as GraphMedia;
  if (status < 200 || status >= 300) {
    const detail = info.error ? `(${info.error.code ?? '?'}) ${info.error.message ?? ''}`.trim() : '';
    throw statusError(PROVIDER, status, detail);
  }
  if (typeof info.url !== 'string' || !info.url) throw new MediaFetchError(`${PROVIDER} answered ${status} without a media url`);
  const size = Number(info.file_size);
  return {
    url: info.url,
    mimeType: typeof info.mime_type === 'string' ? info.mime_type : null,
    fileSize: info.file_size != null && Number.isFinite(size) ? size : null,
  };
}
