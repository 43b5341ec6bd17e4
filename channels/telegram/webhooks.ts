/**
 * Telegram updates in: the webhook (POST /api/v1/channels/telegram/webhook,
 * checked against TELEGRAM_WEBHOOK_SECRET in X-Telegram-Bot-Api-Secret-Token,
 * 401 and nothing stored otherwise) and long polling (the adapter's grammY
 * loop) share one handler, which normalizes an update into an InboundMessage
 * for the engine:
 *
 * - a text message in a private chat: its text; `/start` (with or without a
 *   deep-link payload) reaches the engine as `/start`, which greets like a
 *   first message (and, like START on SMS, opts a patient back in);
 * - a button tap (callback query): answered at once (the client's spinner),
 *   then its callback data (the option's value) is the text;
 * - a shared contact of the sender's own number: the number, as if typed
 *   (it answers the bot's phone question);
 * - anything else in a private chat (photo, voice, sticker, location, someone
 *   else's contact): its caption or an empty text, the kind and Telegram's
 *   file id kept in the message's media (never a download URL: it would carry
 *   the bot token); the engine answers it as a message it did not understand;
 * - groups, channels, edited messages and other update kinds: ignored.
 *
 * The sender's app language (from.language_code) goes with every message as
 * the language hint: a new chat is answered in it when the bot speaks it.
 *
 * The sender address is the chat id. The provider message id is
 * `<chat id>:<message id>` for messages and `cbq:<query id>` for taps, both
 * unique for ever, so a redelivered update is stored and answered once.
 * STOP / BAJA and the other opt-out words work through the engine as on web
 * chat; once the chat is identified they opt its patient out, with a
 * transactional confirmation.
 */
import { timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Update } from 'grammy/types';
import { organizationForChannelAccount } from '../../models/organizations.js';
import { answerWithin, storedSignal } from '../webhookDeadline.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import type { Database } from '../../models/db.js';
import type { InboundMessage, OnInbound } from '../types.js';
import { TELEGRAM_WEBHOOK_PATH, type TelegramAdapter } from './adapter.js';
import { readUpdate, type ReadUpdate } from './update.js';

export interface TelegramInboundOptions {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  /** The adapter: the bot's id (which organization) and answerCallbackQuery. */
  adapter: TelegramAdapter;
  /** The engine. */
  onInbound: OnInbound;
  /** Answer Telegram after this long even when the engine is still thinking (it finishes in the background). */
  replyWithinMs?: number;
}

export interface TelegramInbound {
  router: Router;
  /** One update, from the webhook or from polling: read (update.ts), normalized and handed to the engine. */
  handleUpdate(update: Update): Promise<void>;
}

/** Constant-time comparison of the secret header. */
function secretMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createTelegramInbound(opts: TelegramInboundOptions): TelegramInbound {
  const { config, logger, adapter } = opts;

  async function handleUpdate(raw: Update): Promise<void> {
    const update = readUpdate(raw);
    if (update) await handleRead(update);
    else logger.warn('telegram: an update without an update_id ignored');
  }

  async function handleRead(update: ReadUpdate, onStored?: () => void): Promise<void> {
    const n = update.normalized;
    if (update.callbackQueryId) await adapter.answerCallbackQuery(update.callbackQueryId);
    if (!n) {
      logger.debug({ update_id: update.updateId }, 'telegram: update ignored (not a private message or a button tap)');
      return;
    }
    const orgId = (await organizationForChannelAccount(opts.db.knex, 'telegram_bot_id', adapter.botId))?.id ?? null;
    if (!orgId) {
      logger.warn('telegram: update for a bot no organization owns; dropped');
      return;
    }
    const msg: InboundMessage = {
      organizationId: orgId, channel: 'telegram', from: n.chatId, providerMessageId: n.providerMessageId, text: n.text,
      receivedAt: opts.clock.now(), profileName: n.profileName, languageHint: n.languageCode, ...(n.media ? { media: n.media } : {}),
      ...(onStored ? { onStored } : {}),
    };
    const result = await opts.onInbound(msg);
    logger.info({ update_id: update.updateId, kind: n.kind, duplicate: result.duplicate, conversation_id: result.conversationId }, 'telegram: update handled');
  }

  const router = new Router();
  router.post(TELEGRAM_WEBHOOK_PATH, async (ctx: Context) => {
    if (!adapter.enabled || adapter.mode !== 'webhook' || !config.TELEGRAM_WEBHOOK_SECRET) {
      logger.warn({ enabled: adapter.enabled, mode: adapter.mode }, 'telegram: webhook refused: the channel is off, polls, or has no TELEGRAM_WEBHOOK_SECRET');
      ctx.status = 503;
      ctx.body = '';
      return;
    }
    if (!secretMatches(ctx.get('x-telegram-bot-api-secret-token') || undefined, config.TELEGRAM_WEBHOOK_SECRET)) {
      logger.warn({ path: ctx.path }, 'telegram: webhook with a missing or wrong secret token refused');
      ctx.status = 401;
      ctx.body = '';
      return;
    }
    const update = readUpdate((ctx.request as unknown as { body?: unknown }).body);
    if (!update) {
      ctx.status = 400;
      ctx.body = '';
      return;
    }
    // Telegram redelivers an update it got no 2xx for: answer when the turn is done, or after replyWithinMs (it goes on).
    const { stored, mark } = storedSignal();
    const turn = handleRead(update, mark);
    await answerWithin(turn, opts.replyWithinMs ?? 8_000, logger, 'telegram: update failed after the webhook answered', stored);
    ctx.status = 200;
    ctx.body = '';
  });

  return { router, handleUpdate };
}
