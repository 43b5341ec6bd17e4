/**
 * The WhatsApp Cloud API webhook, at one path:
 * - GET: Meta's verification handshake. `hub.mode=subscribe` with our
 *   WHATSAPP_VERIFY_TOKEN is answered with `hub.challenge` as plain text;
 *   anything else is 403.
 * - POST: notifications, signed with `X-Hub-Signature-256: sha256=<hex
 *   HMAC-SHA256 of the raw body with the app secret>`, checked in constant
 *   time (401 on a mismatch, nothing stored). Messages are normalized to
 *   InboundMessages (provider id = the wamid, so a redelivery is stored and
 *   answered once) and handed to the engine; statuses move our outbound rows
 *   exactly as SMS status callbacks do (applyStatusUpdate).
 *
 * A reply button or list row tapped comes back as its id, which is the option
 * value the dialogue offered ("1", "2"...): that is the text the engine sees.
 * Message types the bot cannot read (image, audio, video, document, sticker,
 * location, contacts...) are still handed to the engine, as a message whose
 * text is the caption (or empty) and whose media names the WhatsApp media id
 * and type: staff see it in the conversation, and the bot answers politely
 * that it did not understand, with its menu. STOP / BAJA and the other
 * opt-out words are the engine's (its rules know them in every language the
 * bot speaks): on WhatsApp there is no carrier keyword handling to mimic.
 *
 * Meta retries any non-2xx answer, so a notification is answered 200 as soon
 * as its messages are stored and answered, or `replyWithinMs` after they were
 * stored, with the work finishing in the background; a failure to store answers 500 so Meta
 * redelivers (harmless: the wamid is unique). An item without the shape of
 * the Cloud API is dropped and the rest handled, with a 200 (notification.ts):
 * a redelivery would bring the same shape.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { organizationForChannelAccount } from '../../models/organizations.js';
import { answerWithin, storedSignal } from '../webhookDeadline.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import type { Database } from '../../models/db.js';
import { applyStatusUpdate } from '../../models/outbox.js';
import type { DeliveryStatus, OnInbound } from '../types.js';
import { WHATSAPP_WEBHOOK_PATH, waIdToE164 } from './adapter.js';
import { normalizeWhatsAppMessage, readNotification, type WaChange, type WaMessage, type WaStatus } from './notification.js';

export interface WhatsAppWebhookOptions {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  /** The engine. */
  onInbound: OnInbound;
  /** Answer Meta after this long even when the engine is still thinking (it finishes in the background). */
  replyWithinMs?: number;
}

/** True when `signature` is `sha256=<hex HMAC-SHA256 of raw with secret>`; constant time in the signature's content. */
export function verifyWhatsAppSignature(secret: string, raw: string | Buffer, signature: string | undefined): boolean {
  if (!signature || !signature.startsWith('sha256=')) return false;
  const given = Buffer.from(signature.slice('sha256='.length), 'hex');
  const expected = createHmac('sha256', secret).update(raw).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Constant-time comparison of two strings (the verify token). */
function sameSecret(a: string, b: string): boolean {
  const x = createHmac('sha256', 'verify').update(a).digest();
  const y = createHmac('sha256', 'verify').update(b).digest();
  return timingSafeEqual(x, y);
}

const STATUS: Record<string, DeliveryStatus> = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed' };

export function createWhatsAppWebhooks(opts: WhatsAppWebhookOptions): Router {
  const router = new Router();
  const { config, logger } = opts;
  const knex = () => opts.db.knex;

  router.get(WHATSAPP_WEBHOOK_PATH, (ctx) => {
    const q = ctx.query;
    const token = config.WHATSAPP_VERIFY_TOKEN;
    const given = typeof q['hub.verify_token'] === 'string' ? q['hub.verify_token'] : '';
    const challenge = typeof q['hub.challenge'] === 'string' ? q['hub.challenge'] : '';
    if (!token) logger.warn('whatsapp: verification refused: WHATSAPP_VERIFY_TOKEN is not set');
    if (!token || q['hub.mode'] !== 'subscribe' || !sameSecret(given, token) || !challenge) {
      ctx.status = 403;
      ctx.type = 'text/plain';
      ctx.body = 'Forbidden';
      return;
    }
    ctx.status = 200;
    ctx.type = 'text/plain';
    ctx.body = challenge;
  });

  router.post(WHATSAPP_WEBHOOK_PATH, async (ctx) => {
    const secret = config.WHATSAPP_APP_SECRET;
    if (!secret) {
      logger.warn('whatsapp: notification refused: WHATSAPP_APP_SECRET is not set, so signatures cannot be checked');
      return answer(ctx, 503);
    }
    const raw = rawBody(ctx);
    if (raw === null || !verifyWhatsAppSignature(secret, raw, ctx.get('x-hub-signature-256') || undefined)) {
      logger.warn({ path: ctx.path }, 'whatsapp: notification with a missing or wrong signature refused');
      return answer(ctx, 401);
    }
    const body = (ctx.request as unknown as { body?: unknown }).body as { object?: unknown } | undefined;
    if (!body || typeof body !== 'object' || body.object !== 'whatsapp_business_account') return answer(ctx, 200);
    const { changes, dropped } = readNotification(body);
    // Answered 200 all the same: Meta would send the same shape again.
    if (dropped > 0) logger.warn({ dropped }, 'whatsapp: notification items without the shape of the Cloud API dropped');
    // The deadline runs once every message of the notification is stored (or left out).
    const { stored, mark } = storedSignal();
    let unstored = changes.reduce((n, c) => n + c.messages.length, 0);
    const oneStored = () => { if (--unstored === 0) mark(); };
    if (unstored === 0) mark();
    const work = handleNotification(changes, oneStored);
    try {
      await answerWithin(work, opts.replyWithinMs ?? 8_000, logger, 'whatsapp: notification failed after the webhook answered', stored);
    } catch (err) {
      logger.error({ err: { message: (err as Error).message } }, 'whatsapp: notification failed; Meta will redeliver it');
      return answer(ctx, 500);
    }
    answer(ctx, 200);
  });

  /** Every change of the notification, in order: messages to the engine, statuses to our rows. */
  /** `done` is called once for each message of the notification: stored, or left out. */
  async function handleNotification(changes: WaChange[], done: () => void): Promise<void> {
    for (const change of changes) {
      const org = await organizationForChannelAccount(knex(), 'whatsapp_phone_number_id', change.phoneNumberId);
      if (!org) {
        logger.warn('whatsapp: notification for a number no organization owns; dropped');
        change.messages.forEach(done);
        continue;
      }
      for (const m of change.messages) await handleMessage(org.id, change, m, done);
      for (const s of change.statuses) await handleStatus(org.own ? org.id : null, s);
    }
  }

  async function handleMessage(organizationId: string, change: WaChange, m: WaMessage, done: () => void): Promise<void> {
    const normalized = normalizeWhatsAppMessage(m);
    const from = waIdToE164(m.from);
    if (!normalized || !from) {
      done();
      logger.debug({ type: m.type, wamid: m.id }, 'whatsapp: notification item ignored');
      return;
    }
    const profileName = change.names.get(m.from) ?? null;
    const result = await opts.onInbound({
      organizationId, channel: 'whatsapp', from, providerMessageId: m.id, text: normalized.text, receivedAt: opts.clock.now(),
      ...(normalized.media ? { media: normalized.media } : {}), profileName, onStored: done,
    });
    logger.debug({ wamid: m.id, kind: normalized.kind, duplicate: result.duplicate }, 'whatsapp: inbound message');
  }

  async function handleStatus(organizationId: string | null, s: WaStatus): Promise<void> {
    const status = Object.hasOwn(STATUS, s.status) ? STATUS[s.status] : undefined;
    if (!status) return;
    const errorCode = s.errors?.[0]?.code != null ? String(s.errors[0].code) : null;
    const result = await applyStatusUpdate(knex(), {
      channel: 'whatsapp', providerMessageId: s.id, status, errorCode, at: opts.clock.now(), organizationId,
    });
    logger.debug({ wamid: s.id, status, known: Boolean(result), changed: result?.changed ?? false }, 'whatsapp: status update');
  }

  return router;
}

function answer(ctx: Context, status: number): void {
  ctx.status = status;
  ctx.type = 'text/plain';
  ctx.body = status === 200 ? 'OK' : status === 401 ? 'Unauthorized' : status === 503 ? 'Service Unavailable' : 'Error';
}

/** The raw request body koa-body kept (includeUnparsed): the signature covers these exact bytes. */
function rawBody(ctx: Context): string | null {
  const body = (ctx.request as unknown as { body?: Record<symbol, unknown> }).body;
  const raw = body && typeof body === 'object' ? body[Symbol.for('unparsedBody')] : undefined;
  return typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : null;
}
