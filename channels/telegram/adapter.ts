/**
 * Telegram through the Bot API with grammY. One bot token is one channel;
 * without TELEGRAM_BOT_TOKEN the channel is off and health() says so.
 *
 * Updates arrive either on the webhook (channels/telegram/webhooks.ts, checked
 * against TELEGRAM_WEBHOOK_SECRET) or by long polling, which grammY's
 * `bot.start()` runs here; both lead to the same update handler, which main.ts
 * hands in with setUpdateHandler(). TELEGRAM_API_ROOT points the client
 * elsewhere (tests: a fake Bot API on 127.0.0.1).
 *
 * Options go out as inline buttons. The phone question carries a reply
 * keyboard with one share-my-contact button (the patient may type the number
 * instead); the reply the engine marks as closing that question removes it.
 *
 * A voice message goes by its URL, which Telegram fetches: OGG as a voice
 * note (sendVoice), MP3 as audio (sendAudio). WAV is refused: Telegram
 * fetches a file by URL only as GIF, PDF or ZIP (the API refuses it first).
 */
import { Bot, GrammyError, HttpError } from 'grammy';
import type { InlineKeyboardMarkup, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update } from 'grammy/types';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import {
  MediaFetchError, ProviderRefusedError, ProviderUnreachableError,
  type ChannelAdapter, type ChannelCapabilities, type ChannelHealth, type OutboundMedia, type OutboundMessage, type SendResult,
} from '../types.js';
import { requirePublicMediaUrl } from '../outboundMedia.js';
import { TELEGRAM_DEFAULT_API_ROOT, fetchTelegramFile } from './media.js';

/** Path of the webhook Telegram posts updates to (channels/telegram/webhooks.ts). */
export const TELEGRAM_WEBHOOK_PATH = '/api/v1/channels/telegram/webhook';

/** The Bot API's limit for one text message (sendMessage). */
export const TELEGRAM_MAX_TEXT_LENGTH = 4096;

/** The Bot API's limit for a button's callback_data, in bytes. */
export const TELEGRAM_MAX_CALLBACK_DATA_BYTES = 64;

/** Update types we act on; Telegram sends no others (allowed_updates, for both setWebhook and getUpdates). */
export const TELEGRAM_ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/**
 * Telegram lets a bot send about 30 messages a second in all (and one a second
 * to one chat, which the dispatcher's per-recipient order keeps close to).
 */
const TELEGRAM_RATE_PER_SECOND = 25;

export type TelegramMode = 'webhook' | 'polling';
export type TelegramUpdateHandler = (update: Update) => Promise<void>;

export interface TelegramAdapterOptions {
  config: Config;
  logger: Logger;
  /** Seconds one getUpdates call waits for updates (long polling; default 25). */
  pollingTimeoutSeconds?: number;
  /** Request timeout toward the Bot API in seconds (default: the polling timeout plus 15). */
  timeoutSeconds?: number;
  /** How long stop() waits for grammY to confirm the last update and end polling (default 5 s). */
  stopTimeoutMs?: number;
}

/** The mode a configuration asks for: TELEGRAM_MODE, else webhook when PUBLIC_URL is set, else polling. */
export function telegramMode(config: Config): TelegramMode {
  return config.TELEGRAM_MODE ?? (config.PUBLIC_URL ? 'webhook' : 'polling');
}

/** The bot's numeric id: the part of the token before the colon (organizations name their bot with settings.telegram_bot_id). */
export function telegramBotId(token: string | undefined): string | null {
  const m = /^(\d+):/.exec(token ?? '');
  return m ? m[1]! : null;
}

/** The options as an inline keyboard, one button a row; callback_data is the option's value (its number when the value is too long). */
export function inlineKeyboard(options: { value: string; label: string }[]): InlineKeyboardMarkup {
  return {
    inline_keyboard: options.map((o, i) => [{
      text: o.label,
      callback_data: Buffer.byteLength(o.value, 'utf8') <= TELEGRAM_MAX_CALLBACK_DATA_BYTES ? o.value : String(i + 1),
    }]),
  };
}

/** One button that shares the patient's own contact (Telegram asks them first); it hides once used, and typing still works. */
export function shareContactKeyboard(label: string): ReplyKeyboardMarkup {
  return { keyboard: [[{ text: label, request_contact: true }]], one_time_keyboard: true, resize_keyboard: true };
}

/**
 * The reply_markup of an outbound message: its options as inline buttons; else
 * the share-contact keyboard when it asks for the phone; else the keyboard's
 * removal when it follows the answer (a message with inline buttons cannot
 * also remove it: the engine gives the closing to a message without).
 */
export function replyMarkup(msg: Pick<OutboundMessage, 'options' | 'asksPhone' | 'closesPhoneAsk'>): InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | undefined {
  if (msg.options?.length) return inlineKeyboard(msg.options);
  if (msg.asksPhone) return shareContactKeyboard(msg.asksPhone.label);
  if (msg.closesPhoneAsk) return { remove_keyboard: true };
  return undefined;
}


const timeoutAfter = (ms: number) => new Promise<'timeout'>((resolve) => { setTimeout(() => resolve('timeout'), ms).unref(); });

export class TelegramAdapter implements ChannelAdapter {
  readonly name = 'telegram' as const;
  readonly capabilities: ChannelCapabilities = { buttons: true, media: true, maxTextLength: TELEGRAM_MAX_TEXT_LENGTH };
  readonly enabled: boolean;
  readonly ratePerSecond = TELEGRAM_RATE_PER_SECOND;
  readonly mode: TelegramMode;
  /** The bot's numeric id (from the token), or null when off. */
  readonly botId: string | null;
  private readonly bot: Bot | null;
  private onUpdate: TelegramUpdateHandler | null = null;
  private started = false;
  /** Polling: settles when grammY's loop ends (after stop(), or on a fatal error such as a revoked token). */
  private polling: Promise<void> | null = null;
  /** Polling: true once grammY fetched the bot's identity and removed any webhook. */
  private pollingReady = false;
  private lastError: string | null = null;
  /** The Bot API root grammY calls; files are downloaded from it too. */
  private readonly apiRoot: string;

  constructor(private readonly opts: TelegramAdapterOptions) {
    const c = opts.config;
    this.enabled = Boolean(c.TELEGRAM_BOT_TOKEN);
    this.mode = telegramMode(c);
    this.botId = telegramBotId(c.TELEGRAM_BOT_TOKEN);
    this.apiRoot = (c.TELEGRAM_API_ROOT ?? TELEGRAM_DEFAULT_API_ROOT).replace(/\/+$/, '');
    const pollingTimeout = opts.pollingTimeoutSeconds ?? 25;
    this.bot = c.TELEGRAM_BOT_TOKEN
      ? new Bot(c.TELEGRAM_BOT_TOKEN, {
        client: {
          apiRoot: this.apiRoot,
          timeoutSeconds: opts.timeoutSeconds ?? pollingTimeout + 15,
        },
      })
      : null;
    if (this.bot) {
      // Polling: every update goes to the same handler as the webhook's.
      this.bot.use(async (ctx) => {
        if (!this.onUpdate) throw new Error('telegram: no update handler installed');
        await this.onUpdate(ctx.update);
      });
      // An update that failed is logged and skipped (redelivery would not help); polling goes on.
      this.bot.catch((err) => {
        this.opts.logger.error({ err: { message: (err.error as Error)?.message ?? String(err.error) }, update_id: err.ctx.update.update_id }, 'telegram: handling a polled update failed');
      });
    }
  }

  /** Where updates go, polled or posted to the webhook (main.ts: the inbound handler of webhooks.ts). */
  setUpdateHandler(handler: TelegramUpdateHandler): void {
    this.onUpdate = handler;
  }

  /** The update handler (the webhook router calls it). */
  handleUpdate(update: Update): Promise<void> {
    if (!this.onUpdate) return Promise.reject(new Error('telegram: no update handler installed'));
    return this.onUpdate(update);
  }

  async start(): Promise<void> {
    if (!this.bot || this.started) return;
    this.started = true;
    const c = this.opts.config;
    if (this.mode === 'polling') {
      this.startPolling(this.bot);
      return;
    }
    if (!c.TELEGRAM_WEBHOOK_SECRET) this.opts.logger.warn('telegram: webhook mode without TELEGRAM_WEBHOOK_SECRET: the webhook refuses every update');
    if (c.TELEGRAM_SET_WEBHOOK) await this.setWebhook();
  }

  /**
   * grammY's long polling in the background: start() must not wait for it (it
   * runs until stop()), nor for Telegram to be reachable (grammY retries).
   */
  private startPolling(bot: Bot): void {
    this.pollingReady = false;
    this.polling = bot.start({
      timeout: this.opts.pollingTimeoutSeconds ?? 25,
      allowed_updates: [...TELEGRAM_ALLOWED_UPDATES],
      onStart: (me) => {
        this.pollingReady = true;
        this.lastError = null;
        this.opts.logger.info({ bot_id: me.id }, 'telegram: long polling started');
      },
    }).catch((err: unknown) => {
      // 401 (token revoked) or 409 (a webhook or another poller took the updates): grammY gives up.
      this.lastError = `polling stopped: ${(err as Error).message}`.slice(0, 200);
      this.opts.logger.error({ err: { message: (err as Error).message } }, 'telegram: long polling stopped');
    });
  }

  /** Registers PUBLIC_URL's webhook path with Telegram, with the secret token; a failure is logged and shown in health(). */
  private async setWebhook(): Promise<void> {
    const c = this.opts.config;
    if (!c.PUBLIC_URL) {
      this.lastError = 'TELEGRAM_SET_WEBHOOK needs PUBLIC_URL';
      this.opts.logger.warn('telegram: TELEGRAM_SET_WEBHOOK is on but PUBLIC_URL is not set; webhook not registered');
      return;
    }
    const url = `${c.PUBLIC_URL.replace(/\/+$/, '')}${TELEGRAM_WEBHOOK_PATH}`;
    try {
      await this.bot!.api.setWebhook(url, {
        allowed_updates: [...TELEGRAM_ALLOWED_UPDATES],
        ...(c.TELEGRAM_WEBHOOK_SECRET ? { secret_token: c.TELEGRAM_WEBHOOK_SECRET } : {}),
      });
      this.opts.logger.info({ url }, 'telegram: webhook registered');
    } catch (err) {
      this.lastError = `setWebhook failed: ${(err as Error).message}`.slice(0, 200);
      this.opts.logger.error({ err: { message: (err as Error).message } }, 'telegram: registering the webhook failed');
    }
  }

  /** Stops polling (grammY aborts the pending getUpdates and confirms the last update), bounded in time. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (!this.bot || !this.polling) return;
    const limit = this.opts.stopTimeoutMs ?? 5_000;
    const stopped = this.bot.isRunning() ? this.bot.stop().catch(() => undefined) : Promise.resolve();
    const outcome = await Promise.race([stopped.then(() => this.polling), timeoutAfter(limit)]);
    if (outcome === 'timeout') this.opts.logger.warn('telegram: polling did not stop in time; going on with the shutdown');
    this.polling = null;
  }

  async send(msg: OutboundMessage): Promise<SendResult> {
    if (!this.bot) throw new ProviderRefusedError('telegram channel not configured: set TELEGRAM_BOT_TOKEN', 'channel_disabled');
    const media = msg.media ? requirePublicMediaUrl(msg.media, 'Telegram') : null;
    if (media?.format === 'wav') {
      throw new ProviderRefusedError('Telegram fetches files by URL only as GIF, PDF or ZIP: send the voice message as OGG or MP3', 'media_format_not_supported');
    }
    try {
      const sent = media ? await this.sendMedia(this.bot, msg, media) : await this.sendText(this.bot, msg);
      this.lastError = null;
      return { providerMessageId: `${sent.chat.id}:${sent.message_id}` };
    } catch (err) {
      throw this.mapError(err);
    }
  }

  private sendText(bot: Bot, msg: OutboundMessage): Promise<Message> {
    const markup = replyMarkup(msg);
    return bot.api.sendMessage(msg.to, msg.text, markup ? { reply_markup: markup } : {});
  }

  /** One call by the audio's format; the text, if any, is its caption, and the duration (when known) what the player shows. */
  private sendMedia(bot: Bot, msg: OutboundMessage, media: OutboundMedia): Promise<Message> {
    const caption = msg.text.trim();
    const markup = replyMarkup(msg);
    const common = { ...(caption ? { caption } : {}), ...(markup ? { reply_markup: markup } : {}) };
    const duration = media.durationSeconds !== null ? { duration: media.durationSeconds } : {};
    return media.format === 'ogg'
      ? bot.api.sendVoice(msg.to, media.url, { ...common, ...duration })
      : bot.api.sendAudio(msg.to, media.url, { ...common, ...duration });
  }

  /** A patient's file (a voice note) by its `telegram-file:<file_id>`, for transcription (channels/telegram/media.ts). */
  async fetchMedia(media: { url: string; contentType: string }, limits: { maxBytes: number; timeoutMs: number }): Promise<{ bytes: Buffer; contentType: string }> {
    if (!this.bot) throw new MediaFetchError('telegram channel not configured: set TELEGRAM_BOT_TOKEN', 'refused');
    const file = await fetchTelegramFile({ bot: this.bot, token: this.opts.config.TELEGRAM_BOT_TOKEN!, apiRoot: this.apiRoot }, media, limits);
    this.opts.logger.debug({ bytes: file.bytes.length, content_type: file.contentType }, 'telegram: inbound file fetched');
    return file;
  }

  /** Answers a button tap (stops the client's spinner); a failure (an expired query) only costs the spinner. */
  async answerCallbackQuery(id: string): Promise<void> {
    if (!this.bot) return;
    await this.bot.api.answerCallbackQuery(id).catch((err: unknown) => {
      this.opts.logger.debug({ err: { message: (err as Error).message } }, 'telegram: answerCallbackQuery failed');
    });
  }

  /**
   * The Bot API's answer to our error types: 403 (blocked, deactivated) and
   * other 4xx (chat not found, a bad request) are final refusals; 429 is a
   * retryable refusal after retry_after; 5xx, a wrong token (401/404) and no
   * answer are unreachable (retried, and the channel shows down).
   */
  private mapError(err: unknown): Error {
    let mapped: Error;
    if (err instanceof GrammyError) {
      const status = err.error_code;
      const description = err.description;
      if (status === 429) {
        const retryAfter = err.parameters?.retry_after;
        mapped = new ProviderRefusedError(description, 'telegram_429', true, { status, retry_after: retryAfter ?? null },
          typeof retryAfter === 'number' ? retryAfter * 1000 : undefined);
      } else if (status === 401 || status === 404) {
        mapped = new ProviderUnreachableError(`Telegram refused the bot token (${status}): ${description}`);
      } else if (status >= 400 && status < 500) {
        mapped = new ProviderRefusedError(description, `telegram_${status}`, false, { status });
      } else {
        mapped = new ProviderUnreachableError(`Telegram answered ${status}: ${description}`);
      }
    } else if (err instanceof HttpError) {
      mapped = new ProviderUnreachableError(`Telegram unreachable: ${(err.error as Error)?.message ?? err.message}`);
    } else {
      mapped = new ProviderUnreachableError(`Telegram unreachable: ${(err as Error)?.message ?? String(err)}`);
    }
    // A refused chat says nothing about the channel; no answer does.
    if (mapped instanceof ProviderUnreachableError) this.lastError = mapped.message.slice(0, 200);
    return mapped;
  }

  health(): ChannelHealth {
    if (!this.enabled) return { name: 'telegram', enabled: false, status: 'off', detail: 'not configured: set TELEGRAM_BOT_TOKEN' };
    if (!this.started) return { name: 'telegram', enabled: true, status: 'down', detail: 'not started' };
    if (this.lastError) return { name: 'telegram', enabled: true, status: 'down', detail: this.lastError };
    if (this.mode === 'polling') {
      return this.pollingReady
        ? { name: 'telegram', enabled: true, status: 'up', detail: 'long polling' }
        : { name: 'telegram', enabled: true, status: 'down', detail: 'long polling: connecting to Telegram' };
    }
    if (!this.opts.config.TELEGRAM_WEBHOOK_SECRET) return { name: 'telegram', enabled: true, status: 'down', detail: 'webhook mode needs TELEGRAM_WEBHOOK_SECRET' };
    return { name: 'telegram', enabled: true, status: 'up', detail: 'webhook' };
  }
}
