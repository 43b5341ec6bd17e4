/**
 * Downloading one inbound media file from a provider (WhatsApp, Telegram,
 * Twilio all use it): a GET with Node's fetch under one deadline, redirects
 * followed by hand so credentials never leave for another origin, and the
 * body read only up to maxBytes (the connection is dropped past it, so a huge
 * file costs neither memory nor bandwidth). Every failure is a
 * MediaFetchError; messages never carry the URL (Telegram's holds the token).
 */
import { MediaFetchError, type MediaFetchReason } from './types.js';

export interface DownloadOptions {
  /** Names the provider in error messages. */
  provider: string;
  maxBytes: number;
  /** One deadline for the whole fetch (AbortSignal.timeout). */
  signal: AbortSignal;
  timeoutMs: number;
  /** The Authorization header for the first request. */
  authorization?: string;
  /** After a redirect: 'same-origin' keeps the header on the first URL's origin only; 'never' drops it (a pre-signed storage URL). */
  authAfterRedirect?: 'same-origin' | 'never';
  maxRedirects?: number;
}

export interface Downloaded {
  bytes: Buffer;
  /** The final response's Content-Type, or null. */
  contentType: string | null;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Types that say nothing about the audio: the channel's own type is better. */
const GENERIC_TYPES = new Set(['application/octet-stream', 'binary/octet-stream']);

/** The part after `scheme` of a channel's media reference (`whatsapp-media:<id>`); a MediaFetchError when it is not that channel's. */
export function mediaRef(url: string, scheme: string, provider: string): string {
  const ref = url.startsWith(scheme) ? url.slice(scheme.length).trim() : '';
  if (!ref) throw new MediaFetchError(`${provider} cannot fetch media that is not ${scheme}<id>`, 'not_ours');
  return ref;
}

/** The first content type that names the format (a file server's octet-stream does not), else `fallback`. */
export function pickContentType(candidates: (string | null | undefined)[], fallback: string): string {
  const specific = candidates.find((t) => t && !GENERIC_TYPES.has(t.split(';')[0]!.trim().toLowerCase()));
  return specific ?? fallback;
}

/** A failure of fetch or of reading a body as a MediaFetchError (a timeout says so). */
export function asMediaError(err: unknown, opts: Pick<DownloadOptions, 'provider' | 'timeoutMs'>): MediaFetchError {
  if (err instanceof MediaFetchError) return err;
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new MediaFetchError(`${opts.provider} did not deliver the media within ${opts.timeoutMs} ms`);
  return new MediaFetchError(`${opts.provider} unreachable: ${e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)}`);
}

/** An HTTP status the provider answered instead of the file: 5xx is trouble on its side, anything else a refusal. */
export function statusError(provider: string, status: number, detail = ''): MediaFetchError {
  const reason: MediaFetchReason = status >= 500 ? 'unreachable' : 'refused';
  return new MediaFetchError(`${provider} answered ${status}${detail ? `: ${detail}` : ''}`, reason);
}

export const tooLarge = (provider: string, size: number | null, maxBytes: number) =>
  new MediaFetchError(`${provider} media is larger than ${maxBytes} bytes${size !== null ? ` (${size})` : ''}`, 'too_large');

/** GETs `url` and answers its parsed JSON body with the status (null body when it is not JSON). */
export async function getJson(url: string, opts: DownloadOptions): Promise<{ status: number; body: unknown }> {
  try {
    const res = await fetch(url, { headers: headers(opts.authorization), signal: opts.signal, redirect: 'error' });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch (err) {
    throw asMediaError(err, opts);
  }
}

/** The bytes at `url`, following at most `maxRedirects` (default 3) redirects. */
export async function downloadMedia(url: string, opts: DownloadOptions): Promise<Downloaded> {
  try {
    const first = httpUrl(url, opts.provider);
    let current = first;
    for (let hop = 0; ; hop++) {
      const res = await fetch(current, { headers: headers(sendsAuth(first, current, hop, opts)), signal: opts.signal, redirect: 'manual' });
      if (!REDIRECTS.has(res.status)) return { bytes: await okBody(res, opts), contentType: res.headers.get('content-type') };
      await res.body?.cancel();
      if (hop >= (opts.maxRedirects ?? 3)) throw new MediaFetchError(`${opts.provider} redirected more than ${opts.maxRedirects ?? 3} times`, 'refused');
      current = nextHop(current, res.headers.get('location'), opts.provider);
    }
  } catch (err) {
    throw asMediaError(err, opts);
  }
}

const headers = (authorization: string | undefined): Record<string, string> => (authorization ? { authorization } : {});

/** The first request carries the credentials; a redirect's only where the caller allows it and the origin is unchanged. */
function sendsAuth(first: URL, current: URL, hop: number, opts: DownloadOptions): string | undefined {
  if (hop === 0) return opts.authorization;
  return opts.authAfterRedirect === 'same-origin' && current.origin === first.origin ? opts.authorization : undefined;
}

function httpUrl(url: string, provider: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MediaFetchError(`${provider} gave a media URL that is not a URL`, 'refused');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new MediaFetchError(`${provider} gave a media URL that is not http(s)`, 'refused');
  return parsed;
}

/** Where a redirect leads: http(s) only, and never from https down to http (the bytes are a patient's voice). */
function nextHop(current: URL, location: string | null, provider: string): URL {
  if (!location) throw new MediaFetchError(`${provider} redirected without a Location`, 'unreachable');
  const next = httpUrl(new URL(location, current).toString(), provider);
  if (current.protocol === 'https:' && next.protocol !== 'https:') throw new MediaFetchError(`${provider} redirected from https to http`, 'refused');
  return next;
}

/** A 2xx response's body up to maxBytes; a larger one (by Content-Length or as it streams) is cut off and refused. */
async function okBody(res: Response, opts: DownloadOptions): Promise<Buffer> {
  if (!res.ok) {
    await res.body?.cancel();
    throw statusError(opts.provider, res.status);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > opts.maxBytes) {
    await res.body?.cancel();
    throw tooLarge(opts.provider, declared, opts.maxBytes);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > opts.maxBytes) {
      // Cancelling the stream closes the connection: the rest is never downloaded.
      await reader.cancel().catch(() => undefined);
      throw tooLarge(opts.provider, null, opts.maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
