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
 * as its messages are stored and answered, or after `replyWithinMs` with the
 * work finishing in the background; a failure to store answers 500 so Meta
 * redelivers (harmless: the wamid is unique).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { organizationForChannelAccount } from '../../models/organizations.js';
import { answerWithin } from '../webhookDeadline.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import type { Database } from '../../models/db.js';
import { applyStatusUpdate } from '../../models/outbox.js';
import type { DeliveryStatus, InboundMessage, OnInbound } from '../types.js';
import { WHATSAPP_WEBHOOK_PATH, waIdToE164 } from './adapter.js';

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

/** The parts of a Cloud API notification we read (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks). */
interface WaMessage {
  from?: string;
  id?: string;
  timestamp?: string;
  type?: string;
  text?: { body?: string };
  interactive?: { type?: string; button_reply?: { id?: string; title?: string }; list_reply?: { id?: string; title?: string } };
  /** A quick-reply button of a template message. */
  button?: { payload?: string; text?: string };
  [media: string]: unknown;
}
interface WaStatus { id?: string; status?: string; recipient_id?: string; errors?: { code?: number; title?: string }[] }
interface WaValue {
  messaging_product?: string;
  metadata?: { display_phone_number?: string; phone_number_id?: string };
  contacts?: { wa_id?: string; profile?: { name?: string } }[];
  messages?: WaMessage[];
  statuses?: WaStatus[];
}
interface WaNotification { object?: string; entry?: { id?: string; changes?: { field?: string; value?: WaValue }[] }[] }

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

/** The text the engine sees for a message, and its media; null for what is not a message (reactions, system notices). */
export function normalizeWhatsAppMessage(m: WaMessage): { text: string; media?: InboundMessage['media']; kind: string } | null {
  const type = m.type ?? 'unknown';
  switch (type) {
    case 'text':
      return { text: m.text?.body ?? '', kind: 'text' };
    case 'interactive': {
      const reply = m.interactive?.button_reply ?? m.interactive?.list_reply;
      if (!reply) return null;
      return { text: reply.id ?? reply.title ?? '', kind: m.interactive?.type ?? 'interactive' };
    }
    case 'button':
      return { text: m.button?.payload || m.button?.text || '', kind: 'button' };
    case 'reaction':
    case 'system':
    case 'unsupported':
    case 'request_welcome':
      return null;
    default: {
      // image, audio, video, document, sticker carry { id, mime_type, caption? }; location and contacts carry neither.
      const part = (m[type] ?? {}) as { id?: string; mime_type?: string; caption?: string };
      return {
        text: typeof part.caption === 'string' ? part.caption : '',
        media: [{ url: part.id ? `whatsapp-media:${part.id}` : `whatsapp-${type}:`, contentType: part.mime_type ?? `application/x-whatsapp-${type}` }],
        kind: type,
      };
    }
  }
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
    const body = (ctx.request as unknown as { body?: unknown }).body as WaNotification | undefined;
    if (!body || typeof body !== 'object' || body.object !== 'whatsapp_business_account') return answer(ctx, 200);
    const work = handleNotification(body);
    try {
      await answerWithin(work, opts.replyWithinMs ?? 8_000, logger, 'whatsapp: notification failed after the webhook answered');
    } catch (err) {
      logger.error({ err: { message: (err as Error).message } }, 'whatsapp: notification failed; Meta will redeliver it');
      return answer(ctx, 500);
    }
    answer(ctx, 200);
  });

  /** Every change of the notification, in order: messages to the engine, statuses to our rows. */
  async function handleNotification(body: WaNotification): Promise<void> {
    for (const entry of body.entry ?? []) {
      for (const change of entry.changes ?? []) {
        const value = change.value;
        if (!value || (change.field && change.field !== 'messages')) continue;
        const org = await organizationForChannelAccount(knex(), 'whatsapp_phone_number_id', value.metadata?.phone_number_id);
        if (!org) {
          logger.warn('whatsapp: notification for a number no organization owns; dropped');
          continue;
        }
        for (const m of value.messages ?? []) await handleMessage(org.id, value, m);
        for (const s of value.statuses ?? []) await handleStatus(org.own ? org.id : null, s);
      }
    }
  }

  async function handleMessage(organizationId: string, value: WaValue, m: WaMessage): Promise<void> {
    const normalized = normalizeWhatsAppMessage(m);
    const from = m.from ? waIdToE164(m.from) : null;
    if (!normalized || !from || !m.id) {
      logger.debug({ type: m.type, wamid: m.id }, 'whatsapp: notification item ignored');
      return;
    }
    const profileName = value.contacts?.find((c) => c.wa_id === m.from)?.profile?.name ?? null;
    const result = await opts.onInbound({
      organizationId, channel: 'whatsapp', from, providerMessageId: m.id, text: normalized.text, receivedAt: opts.clock.now(),
      ...(normalized.media ? { media: normalized.media } : {}), profileName,
    });
    logger.debug({ wamid: m.id, kind: normalized.kind, duplicate: result.duplicate }, 'whatsapp: inbound message');
  }

  async function handleStatus(organizationId: string | null, s: WaStatus): Promise<void> {
    const status = s.status ? STATUS[s.status] : undefined;
    if (!status || !s.id) return;
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
