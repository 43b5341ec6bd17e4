/**
 * An inbound MMS media file (a voice note) by its MediaUrl, as Twilio serves
 * it: GET with HTTP Basic auth (account SID : auth token) answers a redirect
 * to a pre-signed storage URL, which is fetched without the credentials.
 * Only URLs on our Twilio API base, or on Twilio's global API host, are
 * fetched: the MediaUrl comes in a webhook, and a forged one must not make us
 * send our credentials (or a request at all) anywhere else. The global host
 * too, because an account on a regional API base (TWILIO_API_BASE_URL) still
 * gets MediaUrls on api.twilio.com.
 */
import type { Config } from '../../lib/config.js';
import { MediaFetchError } from '../types.js';
import { downloadMedia, pickContentType } from '../mediaDownload.js';

export const TWILIO_DEFAULT_API_BASE = 'https://api.twilio.com';

const PROVIDER = 'Twilio';

export async function fetchTwilioMedia(
  config: Config,
  media: { url: string; contentType: string },
  limits: { maxBytes: number; timeoutMs: number },
): Promise<{ bytes: Buffer; contentType: string }> {
  if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) {
    throw new MediaFetchError('sms channel not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN', 'refused');
  }
  const url = onTwilioApi(media.url, [config.TWILIO_API_BASE_URL ?? TWILIO_DEFAULT_API_BASE, TWILIO_DEFAULT_API_BASE]);
  const basic = Buffer.from(`${config.TWILIO_ACCOUNT_SID}:${config.TWILIO_AUTH_TOKEN}`).toString('base64');
  const got = await downloadMedia(url, {
    provider: PROVIDER, ...limits, signal: AbortSignal.timeout(limits.timeoutMs),
    authorization: `Basic ${basic}`, authAfterRedirect: 'never',
  });
  return { bytes: got.bytes, contentType: pickContentType([got.contentType], media.contentType) };
}

/** `url` when it is on one of the Twilio API bases (same origin, under its path, no user info); else a not_ours MediaFetchError. */
export function onTwilioApi(url: string, apiBases: readonly string[]): string {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new MediaFetchError(`${PROVIDER} media URL is not a URL`, 'not_ours');
  }
  const under = (apiBase: string) => {
    const base = new URL(apiBase);
    const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
    return target.origin === base.origin && target.pathname.startsWith(basePath);
  };
  if (target.username || target.password || !apiBases.some(under)) {
    throw new MediaFetchError(`${PROVIDER} media URL is not on ${apiBases.map((b) => new URL(b).origin).join(' or ')}: not fetched`, 'not_ours');
  }
  return target.toString();
}
