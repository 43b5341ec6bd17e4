/**
 * Twilio's webhooks for SMS: inbound messages and delivery-status callbacks.
 * Both are form posts signed with X-Twilio-Signature over the public URL and
 * the sorted parameters; a wrong signature is 403 and nothing is stored.
 * STOP / START / HELP and their Spanish, Catalan and Hindi words are handled
 * here, before the engine: carriers expect them to work whatever the bot does.
 * Both answer an empty TwiML <Response/>: replies go out through the outbox.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { organizationForChannelAccount } from '../../models/organizations.js';
import { answerWithin, storedSignal } from '../webhookDeadline.js';
import { isSignedByTwilio, twilioParams } from '../twilioRequest.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import { maskPhone, toE164 } from '../../lib/phone.js';
import type { Database } from '../../models/db.js';
import type { OrgScope } from '../../models/base.js';
import { findOrCreateOpenConversation } from '../../models/conversations.js';
import { queueOutboundMessage, storeInboundMessage } from '../../models/messages.js';
import { findPatientByPhone, setPatientOptOut, PATIENT_LANGUAGES, type PatientLanguage } from '../../models/patients.js';
import { applyStatusUpdate } from '../../models/outbox.js';
import type { OnInbound } from '../types.js';
import { SMS_INBOUND_PATH, SMS_STATUS_PATH } from './adapter.js';

export type SmsKeyword = 'opted_out' | 'opted_in' | 'help';

/**
 * Whole-message keywords (case, accents and trailing punctuation ignored) and
 * the language each implies. CANCEL and YES, Twilio's defaults, are left out on
 * purpose: here they answer a reminder ("3 / cancel it", "yes").
 */
const KEYWORDS: Record<string, { kind: SmsKeyword; lang: PatientLanguage | null }> = {};
const add = (kind: SmsKeyword, lang: PatientLanguage | null, words: string[]) => { for (const w of words) KEYWORDS[w] = { kind, lang }; };
add('opted_out', null, ['STOP', 'STOPALL', 'STOP ALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'OPTOUT', 'OPT OUT', 'REVOKE']);
add('opted_out', 'es', ['BAJA', 'DAR DE BAJA', 'PARAR', 'DETENER', 'CANCELAR SUSCRIPCION']);
add('opted_out', 'ca', ['PROU', 'BAIXA', 'DONAR DE BAIXA', 'ATURA']);
add('opted_out', 'hi', ['रोकें', 'रोको', 'बंद', 'बंद करो', 'बंद करें']);
// ALTA is Spanish and Catalan alike: the patient's language decides.
add('opted_in', null, ['START', 'UNSTOP', 'SUBSCRIBE', 'OPTIN', 'OPT IN']);
add('opted_in', null, ['ALTA']);
add('opted_in', 'es', ['DAR DE ALTA', 'REANUDAR']);
add('opted_in', 'ca', ['DONAR D\'ALTA', 'REPRENDRE', 'COMENCA']);
add('opted_in', 'hi', ['शुरू', 'शुरू करें', 'चालू']);
add('help', null, ['HELP', 'INFO']);
add('help', 'es', ['AYUDA']);
add('help', 'ca', ['AJUDA']);
add('help', 'hi', ['मदद', 'सहायता']);

/** The keyword a whole message is, if any. */
export function smsKeyword(text: string): { kind: SmsKeyword; lang: PatientLanguage | null } | null {
  const bare = text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').normalize('NFC')
    .replace(/[.!¡?¿,;:"'’\s]+$/u, '').replace(/^[¡¿"'\s]+/u, '').replace(/\s+/g, ' ').toUpperCase();
  return KEYWORDS[bare] ?? KEYWORDS[bare.replace(/’/g, "'")] ?? null;
}

export interface SmsWebhookOptions {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  /** The engine (every other inbound message). */
  onInbound: OnInbound;
  /** The confirmation text for a keyword in a language (main.ts: the bot's reply catalog). */
  keywordReply: (lang: PatientLanguage, kind: SmsKeyword) => string;
  /** After a commit that queued a message: wake the dispatcher. */
  onQueued?: () => void;
  /** Answer Twilio after this long even when the engine is still thinking (it finishes in the background). */
  replyWithinMs?: number;
}

/** Twilio attaches at most ten media to one message (MediaUrl0 … MediaUrl9). */
const MAX_MEDIA = 10;

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

function twiml(ctx: Context, status = 200): void {
  ctx.status = status;
  ctx.type = 'text/xml';
  ctx.body = EMPTY_TWIML;
}

const asLanguage = (v: string | null | undefined): PatientLanguage | null => (PATIENT_LANGUAGES as readonly string[]).includes(v ?? '') ? (v as PatientLanguage) : null;

export function createSmsWebhooks(opts: SmsWebhookOptions): Router {
  const router = new Router();
  const { config, logger } = opts;
  const knex = () => opts.db.knex;

  router.post(SMS_INBOUND_PATH, async (ctx) => {
    if (!config.TWILIO_AUTH_TOKEN) {
      logger.warn('sms: inbound webhook refused: TWILIO_AUTH_TOKEN is not set, so signatures cannot be checked');
      return twiml(ctx, 503);
    }
    const params = twilioParams(ctx);
    if (!isSignedByTwilio(config, ctx, params)) {
      logger.warn({ path: ctx.path }, 'sms: inbound webhook with a missing or wrong signature refused');
      return twiml(ctx, 403);
    }
    const from = toE164(params.From ?? '') ?? params.From;
    if (!from || !params.MessageSid) return twiml(ctx, 400);
    const orgId = (await organizationForChannelAccount(knex(), 'sms_number', params.To))?.id ?? null;
    if (!orgId) {
      logger.warn('sms: inbound message for a number no organization owns; dropped');
      return twiml(ctx);
    }
    const text = params.Body ?? '';
    const receivedAt = opts.clock.now();
    const keyword = smsKeyword(text);
    if (keyword) {
      await handleKeyword({ organizationId: orgId }, from, params.MessageSid, text, keyword, receivedAt);
      return twiml(ctx);
    }
    // NumMedia only bounds the count: a message carries at most MAX_MEDIA, so no value of it sizes anything bigger.
    const count = Math.min(MAX_MEDIA, Math.max(0, Math.trunc(Number(params.NumMedia) || 0)));
    const media = Array.from({ length: count }, (_, i) => ({ url: params[`MediaUrl${i}`] ?? '', contentType: params[`MediaContentType${i}`] ?? '' }))
      .filter((m) => m.url);
    const { stored, mark } = storedSignal();
    const turn = opts.onInbound({
      organizationId: orgId, channel: 'sms', from, providerMessageId: params.MessageSid, text, receivedAt,
      ...(media.length ? { media } : {}), profileName: params.ProfileName ?? null, onStored: mark,
    });
    // Twilio waits 15 s at most; the message is stored by the turn's first statement, the reply follows through the outbox.
    await answerWithin(turn, opts.replyWithinMs ?? 8_000, logger, 'sms: inbound turn failed after the webhook answered', stored);
    twiml(ctx);
  });

  /** STOP / START / HELP: stored once (MessageSid), the patient's consent changed, a transactional confirmation queued. */
  async function handleKeyword(scope: OrgScope, from: string, sid: string, text: string, keyword: NonNullable<ReturnType<typeof smsKeyword>>, now: Date): Promise<void> {
    const queued = await knex().transaction(async (trx) => {
      const patient = await findPatientByPhone(trx, scope, from);
      const conversation = await findOrCreateOpenConversation(trx, scope, {
        channel: 'sms', address: from, patientId: patient?.id ?? null, language: patient?.preferred_language ?? null,
        idleMinutes: config.CONVERSATION_IDLE_MINUTES, now,
      });
      const stored = await storeInboundMessage(trx, scope, {
        conversationId: conversation.id, patientId: patient?.id ?? conversation.patient_id, channel: 'sms', from, text,
        providerMessageId: sid, receivedAt: now, metadata: { keyword: keyword.kind },
      });
      if (stored.duplicate) return false;
      if (patient && keyword.kind !== 'help') await setPatientOptOut(trx, scope, patient.id, keyword.kind === 'opted_out');
      const lang = keyword.lang ?? asLanguage(patient?.preferred_language) ?? asLanguage(conversation.language) ?? 'en';
      await queueOutboundMessage(trx, scope, {
        conversationId: conversation.id, patientId: patient?.id ?? null, channel: 'sms', to: from,
        text: opts.keywordReply(lang, keyword.kind), sender: 'system',
        metadata: { transactional: true, reply_key: keyword.kind }, now,
      });
      return true;
    });
    logger.info({ keyword: keyword.kind, from: maskPhone(from), duplicate: !queued }, 'sms: keyword handled');
    if (queued) opts.onQueued?.();
  }

  router.post(SMS_STATUS_PATH, async (ctx) => {
    const params = twilioParams(ctx);
    if (!config.TWILIO_AUTH_TOKEN) return twiml(ctx, 503);
    if (!isSignedByTwilio(config, ctx, params)) {
      logger.warn({ path: ctx.path }, 'sms: status callback with a missing or wrong signature refused');
      return twiml(ctx, 403);
    }
    const status = ({ sent: 'sent', delivered: 'delivered', read: 'read', undelivered: 'undelivered', failed: 'failed' } as const)[params.MessageStatus as 'sent'];
    if (status && params.MessageSid) {
      // A per-organization sender number narrows the lookup; provider ids are unique per account anyway.
      const own = params.From
        ? ((await knex()('organizations').whereRaw(`settings->>'sms_number' = ?`, [params.From]).first('id')) as { id: string } | undefined)
        : undefined;
      const result = await applyStatusUpdate(knex(), {
        channel: 'sms', providerMessageId: params.MessageSid, status, errorCode: params.ErrorCode || null,
        at: opts.clock.now(), organizationId: own?.id ?? null,
      });
      logger.debug({ sid: params.MessageSid, status, known: Boolean(result), changed: result?.changed ?? false }, 'sms: status callback');
    }
    twiml(ctx);
  });

  return router;
}
