/**
 * WhatsApp through Meta's official WhatsApp Business Cloud API (the Graph
 * API), with Node's fetch: there is no official Node SDK worth a dependency.
 * Sends go to `{WHATSAPP_API_BASE_URL}/{phone_number_id}/messages` with the
 * access token as a Bearer token (tests point the base URL at a fake Graph API
 * on 127.0.0.1). Without an access token, a phone number id and the app secret
 * (which signs the webhooks) the channel is off and health() says which
 * setting is missing.
 */
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { toE164 } from '../../lib/phone.js';
import type { WhatsAppTemplate } from '../../models/settings.js';
import {
  ProviderRefusedError, ProviderUnreachableError,
  type ChannelAdapter, type ChannelCapabilities, type ChannelHealth, type OutboundMedia, type OutboundMessage, type SendResult,
} from '../types.js';
import { requirePublicMediaUrl } from '../outboundMedia.js';
import { fetchWhatsAppMedia } from './media.js';

/** Path of the webhook: GET for Meta's verification handshake, POST for notifications (channels/whatsapp/webhooks.ts). */
export const WHATSAPP_WEBHOOK_PATH = '/api/v1/channels/whatsapp/cloud';

/** A text message takes 4,096 characters; the body of an interactive message 1,024. */
export const WHATSAPP_MAX_TEXT_LENGTH = 4096;
export const WHATSAPP_MAX_INTERACTIVE_BODY = 1024;
/** A template's text parameter takes 1,024 characters. */
export const WHATSAPP_MAX_TEMPLATE_PARAMETER = 1024;
/** Graph's "Re-engagement message": more than 24 hours since the patient last wrote, so only a template may go. */
export const REENGAGEMENT_CODE = 131047;
/** Reply buttons: at most 3, titles of at most 20 characters. */
export const WHATSAPP_MAX_BUTTONS = 3;
export const WHATSAPP_BUTTON_TITLE_MAX = 20;
/** List messages: at most 10 rows, titles of 24 and descriptions of 72 characters. */
export const WHATSAPP_MAX_LIST_ROWS = 10;
export const WHATSAPP_ROW_TITLE_MAX = 24;
export const WHATSAPP_ROW_DESCRIPTION_MAX = 72;

/**
 * Graph API error codes that say "later, not never": throttling (4, 80007,
 * 130429, 131048, 131056) and Meta's own temporary trouble (1, 2, 131000,
 * 131016). Everything else with an error body is a refusal of this message.
 */
const RETRYABLE_CODES = new Set([1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056]);
/** The access token was rejected: every send fails until an operator fixes it, so messages wait (retryable) and health is down. */
const AUTH_CODES = new Set([190]);

export interface WhatsAppCloudOptions {
  config: Config;
  logger: Logger;
  /** The organization's template for sends outside the 24-hour window (settings.whatsapp_template); null: none. */
  templateFor?: (organizationId: string) => Promise<WhatsAppTemplate | null>;
  /** Request timeout toward the Graph API (default 10 s): a timed-out send is retried. */
  timeoutMs?: number;
}

type Option = { value: string; label: string };

/** Cuts `s` to `max` characters, marking the cut with an ellipsis (never splitting a surrogate pair). */
export function truncateTitle(s: string, max: number): string {
  const chars = [...s.trim()];
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/** The E.164 number of a WhatsApp id (wa_id: digits only, country code first); null when it is not a phone number. */
export function waIdToE164(waId: string): string | null {
  let digits = waId.replace(/\D/g, '');
  if (!digits) return null;
  // Mexican mobiles keep the "1" after 52 that numbering dropped in 2019 (wa_id 52 1 + ten digits, E.164 +52 + ten
  // digits): without this a patient registered by phone would not be recognized. (Argentina's 54 9 is E.164's too.)
  if (/^521\d{10}$/.test(digits)) digits = `52${digits.slice(3)}`;
  return toE164(`+${digits}`) ?? `+${digits}`;
}

/** WhatsApp's recipient form of an E.164 number: digits only. */
export function e164ToWaId(e164: string): string | null {
  const normalized = toE164(e164) ?? (/^\+?\d{6,15}$/.test(e164.trim()) ? e164.trim() : null);
  return normalized ? normalized.replace(/\D/g, '') : null;
}

/**
 * The Graph API body of one outbound part: text, reply buttons (up to 3
 * options whose labels fit a button), a list (up to 10 options; long labels
 * cut in the row title and given whole as its description), or, beyond 10
 * options, a text with the options numbered. The option value is the reply id,
 * so a tap comes back as the value the dialogue offered ("1", "2"...).
 */
export function buildWhatsAppPayload(to: string, text: string, options: Option[] | null): Record<string, unknown> {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to };
  const textMessage = (body: string) => ({ ...base, type: 'text', text: { body, preview_url: false } });
  if (!options || options.length === 0) return textMessage(text);
  const numbered = `${text}\n\n${options.map((o, i) => `${i + 1}. ${o.label}`).join('\n')}`;
  const body = text.trim();
  // An interactive message needs a body, and one no longer than 1,024 characters.
  if (!body || body.length > WHATSAPP_MAX_INTERACTIVE_BODY || options.length > WHATSAPP_MAX_LIST_ROWS) return textMessage(numbered);
  const buttonTitles = options.map((o) => o.label.trim());
  const fitButtons = options.length <= WHATSAPP_MAX_BUTTONS
    && buttonTitles.every((t) => t.length > 0 && [...t].length <= WHATSAPP_BUTTON_TITLE_MAX)
    && new Set(buttonTitles).size === buttonTitles.length;
  if (fitButtons) {
    return {
      ...base, type: 'interactive',
      interactive: {
        type: 'button', body: { text: body },
        action: { buttons: options.map((o, i) => ({ type: 'reply', reply: { id: o.value, title: buttonTitles[i] } })) },
      },
    };
  }
  const rows = options.map((o) => {
    const title = truncateTitle(o.label, WHATSAPP_ROW_TITLE_MAX) || o.value;
    const cut = title !== o.label.trim();
    return { id: o.value, title, ...(cut ? { description: truncateTitle(o.label, WHATSAPP_ROW_DESCRIPTION_MAX) } : {}) };
  });
  return {
    ...base, type: 'interactive',
    interactive: {
      type: 'list', body: { text: body },
      // The button that opens the list; a range reads in every language the bot speaks.
      action: { button: `☰ 1–${options.length}`, sections: [{ rows }] },
    },
  };
}

/**
 * A message's text as a template's one body parameter, which may hold no
 * newline or tab and no more than 4 spaces in a row: lines are joined with
 * " · ", whitespace runs become one space, and the result is cut to 1,024
 * characters. Options (not sent as buttons in a template) are numbered in it,
 * so the patient can answer with the number.
 */
export function templateParameter(text: string, options: Option[] | null): string {
  const full = options && options.length > 0 ? `${text}\n${options.map((o, i) => `${i + 1}. ${o.label}`).join('\n')}` : text;
  const flat = full.split(/[\r\n\u2028\u2029]+/).map((line) => line.replace(/\s+/g, ' ').trim()).filter(Boolean).join(' · ');
  if (flat.length <= WHATSAPP_MAX_TEMPLATE_PARAMETER) return flat;
  let cut = WHATSAPP_MAX_TEMPLATE_PARAMETER - 1;
  // Never split a surrogate pair (emoji).
  const code = flat.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return `${flat.slice(0, cut).trimEnd()}…`;
}

/** The Graph API body of a template message with `parameter` as its one body variable. */
export function buildTemplatePayload(to: string, template: WhatsAppTemplate, parameter: string): Record<string, unknown> {
  return {
    messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'template',
    template: {
      name: template.name, language: { code: template.language },
      components: [{ type: 'body', parameters: [{ type: 'text', text: parameter }] }],
    },
  };
}

/**
 * The Graph API body of a voice message, the audio fetched by Meta from its
 * link. MP3 and OGG go as an audio message, which takes no caption; WhatsApp's
 * audio takes no WAV, so a WAV goes as a document with its file name (and the
 * caption, if any).
 */
export function buildWhatsAppMediaPayload(to: string, media: OutboundMedia, text: string): Record<string, unknown> {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to };
  if (media.format !== 'wav') return { ...base, type: 'audio', audio: { link: media.url } };
  const caption = text.trim();
  return { ...base, type: 'document', document: { link: media.url, filename: media.fileName, ...(caption ? { caption } : {}) } };
}

interface GraphError { message?: string; type?: string; code?: number; error_subcode?: number; fbtrace_id?: string; error_data?: { details?: string } }

export class WhatsAppCloudAdapter implements ChannelAdapter {
  readonly name = 'whatsapp' as const;
  readonly capabilities: ChannelCapabilities = { buttons: true, media: true, maxTextLength: WHATSAPP_MAX_TEXT_LENGTH };
  readonly enabled: boolean;
  readonly ratePerSecond: number;
  /** Why the channel is off (missing settings), or null. */
  readonly disabledReason: string | null;
  private readonly endpoint: string | null;
  private readonly timeoutMs: number;
  private started = false;
  private lastError: string | null = null;

  constructor(private readonly opts: WhatsAppCloudOptions) {
    const c = opts.config;
    const missing = [
      !c.WHATSAPP_ACCESS_TOKEN && 'WHATSAPP_ACCESS_TOKEN',
      !c.WHATSAPP_PHONE_NUMBER_ID && 'WHATSAPP_PHONE_NUMBER_ID',
      !c.WHATSAPP_APP_SECRET && 'WHATSAPP_APP_SECRET',
    ].filter((x): x is string => Boolean(x));
    this.enabled = missing.length === 0;
    this.disabledReason = this.enabled ? null : `not configured: set ${missing.join(', ')}`;
    this.ratePerSecond = c.WHATSAPP_RATE_PER_SECOND;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.endpoint = this.enabled
      ? `${c.WHATSAPP_API_BASE_URL.replace(/\/+$/, '')}/${encodeURIComponent(c.WHATSAPP_PHONE_NUMBER_ID!)}/messages`
      : null;
  }

  async start(): Promise<void> {
    this.started = true;
    if (!this.opts.config.WHATSAPP_VERIFY_TOKEN) this.opts.logger.warn('whatsapp: WHATSAPP_VERIFY_TOKEN is not set, so Meta cannot verify the webhook');
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  async send(msg: OutboundMessage): Promise<SendResult> {
    if (!this.endpoint) throw new ProviderRefusedError(`whatsapp channel ${this.disabledReason}`, 'channel_disabled');
    const to = e164ToWaId(msg.to);
    if (!to) throw new ProviderRefusedError('the recipient is not a phone number', 'invalid_recipient');
    const payload = msg.media
      ? buildWhatsAppMediaPayload(to, requirePublicMediaUrl(msg.media, 'WhatsApp'), msg.text)
      : buildWhatsAppPayload(to, msg.text, msg.options);
    try {
      return await this.post(this.endpoint, payload);
    } catch (err) {
      if (!(err instanceof ProviderRefusedError) || err.code !== String(REENGAGEMENT_CODE)) throw err;
      if (msg.media) throw closedWindowForMedia(err);
      return this.sendAsTemplate(this.endpoint, to, msg, err);
    }
  }

  /**
   * Outside the 24-hour window only a template may go: the organization's, at
   * once, with the text as its parameter. Without one the message fails (a
   * final refusal that says what to set); a template send that fails is
   * classified like any other.
   */
  private async sendAsTemplate(endpoint: string, to: string, msg: OutboundMessage, refusal: ProviderRefusedError): Promise<SendResult> {
    const template = this.opts.templateFor ? await this.opts.templateFor(msg.organizationId) : null;
    if (!template) {
      throw new ProviderRefusedError("outside WhatsApp's 24-hour window: set settings.whatsapp_template to send it as a template", refusal.code, false, refusal.payload);
    }
    this.opts.logger.info({ message_id: msg.id, part: msg.part ?? 0, template: template.name }, 'whatsapp: outside the 24-hour window, sending as a template');
    return this.post(endpoint, buildTemplatePayload(to, template, templateParameter(msg.text, msg.options)));
  }

  /** A patient's media (a voice note) by its `whatsapp-media:<id>`, for transcription (channels/whatsapp/media.ts). */
  async fetchMedia(media: { url: string; contentType: string }, limits: { maxBytes: number; timeoutMs: number }): Promise<{ bytes: Buffer; contentType: string }> {
    const file = await fetchWhatsAppMedia(this.opts.config, media, limits);
    this.opts.logger.debug({ bytes: file.bytes.length, content_type: file.contentType }, 'whatsapp: inbound media fetched');
    return file;
  }

  /** POSTs one message; its wamid, or the Graph answer as one of our errors. */
  private async post(endpoint: string, payload: Record<string, unknown>): Promise<SendResult> {
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.opts.config.WHATSAPP_ACCESS_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw this.unreachable(`Graph API unreachable: ${describeFetchError(err)}`);
    }
    const body = (await res.json().catch(() => null)) as { messages?: { id?: string }[]; error?: GraphError } | null;
    if (res.ok) {
      const id = body?.messages?.[0]?.id;
      if (!id) throw this.unreachable(`Graph API answered ${res.status} without a message id`);
      this.lastError = null;
      return { providerMessageId: id };
    }
    throw this.mapError(res.status, body?.error ?? null);
  }

  /**
   * The Graph API's answer to our error types: 5xx without a known code is
   * unreachable; throttling and Meta's temporary errors are retryable
   * refusals; an expired token is retryable (messages wait for the fix) and
   * takes the channel down; everything else (131026 undeliverable, 131047
   * re-engagement window closed, 100 invalid parameter...) is a final refusal
   * (`send` answers 131047 to a text message with the organization's template, when it has one).
   */
  private mapError(status: number, error: GraphError | null): Error {
    const code = typeof error?.code === 'number' ? error.code : null;
    if (code === null) {
      if (status === 429) return new ProviderRefusedError('Graph API rate limit (429)', 'http_429', true, { status });
      if (status >= 500) return this.unreachable(`Graph API answered ${status}`);
      return new ProviderRefusedError(`Graph API refused the message (${status})`, `http_${status}`, status === 401, { status });
    }
    const detail = error?.error_data?.details ? `${error.message ?? ''} (${error.error_data.details})` : (error?.message ?? '');
    const payload = { status, code, subcode: error?.error_subcode ?? null, type: error?.type ?? null, fbtrace_id: error?.fbtrace_id ?? null };
    if (AUTH_CODES.has(code) || status === 401) {
      this.lastError = `access token rejected (${code})`;
      return new ProviderRefusedError(`Graph API rejected the access token: ${detail}`.trim(), String(code), true, payload);
    }
    if (RETRYABLE_CODES.has(code)) {
      if (status >= 500) return this.unreachable(`Graph API answered ${status} (${code}): ${detail}`.trim());
      return new ProviderRefusedError(detail || `Graph API error ${code}`, String(code), true, payload);
    }
    if (status >= 500) return this.unreachable(`Graph API answered ${status} (${code}): ${detail}`.trim());
    return new ProviderRefusedError(detail || `Graph API error ${code}`, String(code), false, payload);
  }

  /** No answer says something about the channel; a refused number does not. */
  private unreachable(message: string): ProviderUnreachableError {
    this.lastError = message.slice(0, 200);
    return new ProviderUnreachableError(message);
  }

  health(): ChannelHealth {
    if (!this.enabled) return { name: 'whatsapp', enabled: false, status: 'off', detail: this.disabledReason ?? 'not configured' };
    if (!this.started) return { name: 'whatsapp', enabled: true, status: 'down', detail: 'not started' };
    if (this.lastError) return { name: 'whatsapp', enabled: true, status: 'down', detail: `Graph API trouble on the last send: ${this.lastError}` };
    const verify = this.opts.config.WHATSAPP_VERIFY_TOKEN ? '' : '; no WHATSAPP_VERIFY_TOKEN, so Meta cannot verify the webhook';
    return { name: 'whatsapp', enabled: true, status: 'up', detail: `WhatsApp Cloud API${verify}` };
  }
}

/**
 * A template carries text only: replacing a voice message with one would
 * tell the patient nothing of the audio, so the message fails visibly instead.
 */
function closedWindowForMedia(refusal: ProviderRefusedError): ProviderRefusedError {
  return new ProviderRefusedError(
    "outside WhatsApp's 24-hour window: a voice message cannot go as a template; send it after the patient writes again",
    refusal.code, false, refusal.payload,
  );
}

/** fetch wraps the cause (ECONNREFUSED, a timeout) in a TypeError "fetch failed": name the cause. */
function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
