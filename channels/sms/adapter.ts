/**
 * SMS through Twilio's REST API (the `twilio` package). The client has no
 * base-URL option, so a RequestClient subclass rewrites every request onto
 * TWILIO_API_BASE_URL when that is set (tests: a fake Twilio on 127.0.0.1).
 * Without an account SID, an auth token and a sender (a number or a messaging
 * service) the channel is off and health() says which setting is missing.
 * A voice message goes as an MMS: its URL as MediaUrl, which Twilio fetches.
 */
import twilio from 'twilio';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import {
  ProviderRefusedError, ProviderUnreachableError,
  type ChannelAdapter, type ChannelCapabilities, type ChannelHealth, type OutboundMessage, type SendResult,
} from '../types.js';
import { requirePublicMediaUrl } from '../outboundMedia.js';
import { fetchTwilioMedia } from './media.js';

/** Path of the delivery-status webhook (channels/sms/webhooks.ts). */
export const SMS_STATUS_PATH = '/api/v1/channels/sms/status';
export const SMS_INBOUND_PATH = '/api/v1/channels/sms/inbound';

/**
 * Twilio takes 1,600 characters per message and bills and delivers them as
 * segments of 153 (GSM-7) or 67 (UCS-2) characters, which phones join again.
 * 640 keeps one reply to at most a few segments and splits long lists on
 * sentence or line ends, so each SMS reads as a whole.
 */
export const SMS_MAX_TEXT_LENGTH = 640;

type RequestOptions = Parameters<twilio.RequestClient['request']>[0];
type TwilioResponse = Awaited<ReturnType<twilio.RequestClient['request']>>;

/** Sends every REST call to `baseUrl` instead of https://api.twilio.com (and the other Twilio hosts). */
class BaseUrlRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string, timeoutMs: number) {
    super({ timeout: timeoutMs });
  }

  override request<TData>(opts: RequestOptions): Promise<TwilioResponse & { body: TData }> {
    const original = new URL(opts.uri);
    const target = new URL(original.pathname + original.search, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
    return super.request({ ...opts, uri: target.toString() }) as Promise<TwilioResponse & { body: TData }>;
  }
}

export interface TwilioSmsOptions {
  config: Config;
  logger: Logger;
  /** Request timeout toward Twilio (default 10 s): a timed-out send is retried after an in-doubt check. */
  timeoutMs?: number;
}

interface TwilioMessageLike { sid: string; to: string; body: string; dateCreated: Date | null; status: string; numMedia?: string | null }

/** What a message says: its text as Body, or for a voice message the audio as MediaUrl (Twilio takes it without a Body) and any caption. */
function content(msg: OutboundMessage): { body: string } | { mediaUrl: string[]; body?: string } {
  if (!msg.media) return { body: msg.text };
  const caption = msg.text.trim();
  return { mediaUrl: [requirePublicMediaUrl(msg.media, 'Twilio').url], ...(caption ? { body: caption } : {}) };
}

export class TwilioSmsAdapter implements ChannelAdapter {
  readonly name = 'sms' as const;
  readonly capabilities: ChannelCapabilities = { buttons: false, media: true, maxTextLength: SMS_MAX_TEXT_LENGTH };
  readonly enabled: boolean;
  readonly ratePerSecond: number;
  /** Why the channel is off (missing settings), or null. */
  readonly disabledReason: string | null;
  private readonly client: twilio.Twilio | null;
  private readonly statusCallback: string | null;
  private started = false;
  private lastError: string | null = null;

  constructor(private readonly opts: TwilioSmsOptions) {
    const c = opts.config;
    const missing = [
      !c.TWILIO_ACCOUNT_SID && 'TWILIO_ACCOUNT_SID',
      !c.TWILIO_AUTH_TOKEN && 'TWILIO_AUTH_TOKEN',
      !c.TWILIO_FROM_NUMBER && !c.TWILIO_MESSAGING_SERVICE_SID && 'TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID',
    ].filter((x): x is string => Boolean(x));
    this.enabled = missing.length === 0;
    this.disabledReason = this.enabled ? null : `not configured: set ${missing.join(', ')}`;
    this.ratePerSecond = c.SMS_RATE_PER_SECOND;
    this.statusCallback = c.PUBLIC_URL ? `${c.PUBLIC_URL.replace(/\/+$/, '')}${SMS_STATUS_PATH}` : null;
    const timeout = opts.timeoutMs ?? 10_000;
    this.client = this.enabled
      ? twilio(c.TWILIO_ACCOUNT_SID, c.TWILIO_AUTH_TOKEN, {
        httpClient: c.TWILIO_API_BASE_URL ? new BaseUrlRequestClient(c.TWILIO_API_BASE_URL, timeout) : new twilio.RequestClient({ timeout }),
        autoRetry: false,
      })
      : null;
  }

  async start(): Promise<void> {
    this.started = true;
    if (!this.statusCallback) this.opts.logger.warn('sms: PUBLIC_URL is not set, so Twilio cannot report delivery status');
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  /** The sender: the messaging service when configured (Twilio picks the number), else the number. */
  private sender(): { from: string } | { messagingServiceSid: string } {
    const c = this.opts.config;
    return c.TWILIO_MESSAGING_SERVICE_SID ? { messagingServiceSid: c.TWILIO_MESSAGING_SERVICE_SID } : { from: c.TWILIO_FROM_NUMBER! };
  }

  async send(msg: OutboundMessage): Promise<SendResult> {
    if (!this.client) throw new ProviderRefusedError(`sms channel ${this.disabledReason}`, 'channel_disabled');
    const what = content(msg);
    try {
      const created = await this.client.messages.create({
        to: msg.to, ...what, ...this.sender(), ...(this.statusCallback ? { statusCallback: this.statusCallback } : {}),
      });
      this.lastError = null;
      return { providerMessageId: created.sid };
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /**
   * After an in-doubt attempt (a crash or timeout between Twilio accepting a
   * message and our record of it), looks for that message at Twilio: the same
   * recipient and text (and, for a voice message, with media), created no
   * earlier than our row. Found: its sid, and the dispatcher records it
   * instead of sending again.
   */
  async findSent(msg: OutboundMessage): Promise<SendResult | null> {
    if (!this.client) return null;
    const since = Math.floor(msg.createdAt.getTime() / 1000) * 1000;
    try {
      const recent = (await this.client.messages.list({ to: msg.to, limit: 50 })) as unknown as TwilioMessageLike[];
      const body = msg.media ? msg.text.trim() : msg.text;
      const match = recent.find((m) => m.body === body && (!msg.media || Number(m.numMedia ?? 0) > 0)
        && m.dateCreated != null && m.dateCreated.getTime() >= since);
      return match ? { providerMessageId: match.sid } : null;
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** A patient's MMS media (a voice note) by its MediaUrl, for transcription (channels/sms/media.ts). */
  async fetchMedia(media: { url: string; contentType: string }, limits: { maxBytes: number; timeoutMs: number }): Promise<{ bytes: Buffer; contentType: string }> {
    const file = await fetchTwilioMedia(this.opts.config, media, limits);
    this.opts.logger.debug({ bytes: file.bytes.length, content_type: file.contentType }, 'sms: inbound media fetched');
    return file;
  }

  /** Twilio's answer to our error types: a coded 4xx is a refusal (429/20429 retryable); no answer or 5xx is unreachable. */
  private mapError(err: unknown): Error {
    const e = err as { status?: number; code?: number | string; message?: string };
    const status = typeof e?.status === 'number' ? e.status : null;
    let mapped: Error;
    if (status !== null && status >= 400 && status < 500) {
      const code = e.code != null ? String(e.code) : `http_${status}`;
      mapped = new ProviderRefusedError(e.message ?? `Twilio refused the message (${status})`, code, status === 429 || code === '20429', { status, code });
    } else if (status !== null) {
      mapped = new ProviderUnreachableError(`Twilio answered ${status}: ${e.message ?? ''}`.trim());
    } else {
      mapped = new ProviderUnreachableError(`Twilio unreachable: ${e?.message ?? String(err)}`);
    }
    // A refused number says nothing about the channel; no answer does.
    if (mapped instanceof ProviderUnreachableError) this.lastError = mapped.message.slice(0, 200);
    return mapped;
  }

  health(): ChannelHealth {
    if (!this.enabled) return { name: 'sms', enabled: false, status: 'off', detail: this.disabledReason ?? 'not configured' };
    const via = this.opts.config.TWILIO_MESSAGING_SERVICE_SID ? 'a messaging service' : 'a sender number';
    if (!this.started) return { name: 'sms', enabled: true, status: 'down', detail: 'not started' };
    if (this.lastError) return { name: 'sms', enabled: true, status: 'down', detail: `Twilio unreachable on the last send: ${this.lastError}` };
    return { name: 'sms', enabled: true, status: 'up', detail: `Twilio via ${via}${this.statusCallback ? '' : '; no PUBLIC_URL, so no delivery receipts'}` };
  }
}
