/**
 * Twilio's voice webhooks (VAANI's /voice/incoming, /voice/gather,
 * /voice/status), each a form post signed with X-Twilio-Signature (403
 * otherwise, and nothing is stored).
 *
 * - incoming: the call's row, its conversation on the voice channel, and the
 *   bot's welcome spoken inside a <Gather> that listens for speech or keys.
 * - gather: what Twilio heard (SpeechResult) or the keys pressed (Digits) is
 *   the caller's message to the engine, stored once per gather (`n` in the
 *   action URL makes its provider id: a retried post is answered again, not
 *   played again); the replies are spoken inside the next <Gather>. A handoff
 *   puts the caller through to settings.voice_transfer_number (<Dial>) or
 *   says the clinic will call back; an emergency, STOP or a goodbye ends the
 *   call after the bot's words.
 * - status: the call's progress; its end closes the conversation
 *   (models/calls.ts recordCallStatus) and emits call.completed.
 *
 * With VOICE_RECOGNITION=stream, incoming answers <Connect><Stream> instead:
 * the call's audio comes to our WebSocket (streamServer.ts, callStream.ts),
 * and stream-ended is the <Connect> action that follows it.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import twilio from 'twilio';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import { maskPhone, toE164 } from '../../lib/phone.js';
import type { Database } from '../../models/db.js';
import type { OrgScope } from '../../models/base.js';
import { organizationForChannelAccount, getOrganization } from '../../models/organizations.js';
import { orgSettings } from '../../models/settings.js';
import { Conversation } from '../../models/conversations.js';
import {
  asCallStatus, claimSpokenReplies, fallBackToGather, findCallBySid, lastAssistantReply, recordCallStatus, recordCallTurn, spokenRepliesAfter, startCall,
  type Call, type CallRecognition, type SpokenReply,
} from '../../models/calls.js';
import type { OnInbound } from '../types.js';
import { isSignedByTwilio, publicBase, publicWsBase, twilioParams } from '../twilioRequest.js';
import { answerWithin } from '../webhookDeadline.js';
import { VOICE_GATHER_PATH, VOICE_INCOMING_PATH, VOICE_STATUS_PATH, VOICE_STREAM_ENDED_PATH, VOICE_STREAM_PATH } from './adapter.js';
import { asVoiceLang, callNext, closingKey, LOCALES, MAX_SILENT_PROMPTS, speechHints, spokenLines, type SayLine } from './callScript.js';

export interface VoiceWebhookOptions {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  onInbound: OnInbound;
  /** The engine's greeting turn on the caller's conversation (bot/engine.ts welcome). */
  welcome: (input: { organizationId: string; channel: 'voice'; from: string; receivedAt: Date }) => Promise<{ conversationId: string }>;
  /** A voice line of the bot's catalog. */
  say: SayLine;
  /** Answer Twilio (which waits 15 s at most) with what is ready after this long. */
  replyWithinMs?: number;
  /** Who hears callers: Twilio's recognizer in each <Gather>, or ours over the call's Media Stream (config VOICE_RECOGNITION). */
  recognition?: CallRecognition;
}

function xml(ctx: Context, body: string, status = 200): void {
  ctx.status = status;
  ctx.type = 'text/xml';
  ctx.body = body;
}

export function createVoiceWebhooks(opts: VoiceWebhookOptions): Router {
  const router = new Router();
  const { config, logger } = opts;
  const knex = () => opts.db.knex;

  /** The signed form, or null after answering 503 / 403 / 400. */
  function verifiedParams(ctx: Context, what: string): Record<string, string> | null {
    if (!config.TWILIO_AUTH_TOKEN) {
      logger.warn(`voice: ${what} refused: TWILIO_AUTH_TOKEN is not set, so signatures cannot be checked`);
      xml(ctx, new twilio.twiml.VoiceResponse().toString(), 503);
      return null;
    }
    const params = twilioParams(ctx);
    if (!isSignedByTwilio(config, ctx, params)) {
      logger.warn({ path: ctx.path }, `voice: ${what} with a missing or wrong signature refused`);
      xml(ctx, new twilio.twiml.VoiceResponse().toString(), 403);
      return null;
    }
    if (!params.CallSid) {
      xml(ctx, new twilio.twiml.VoiceResponse().toString(), 400);
      return null;
    }
    return params;
  }

  /** What the call hears next: the replies inside a <Gather> for the caller's answer, or the replies and the call's end. */
  async function answer(ctx: Context, scope: OrgScope, call: Call, conversationId: string, replies: SpokenReply[], next: { n: number; silent: number; opening?: 'voice_greeting' | 'voice_no_input' }): Promise<void> {
    const [conversation, organization, hints] = await Promise.all([
      Conversation.query(knex()).findOne({ id: conversationId, organization_id: scope.organizationId }),
      getOrganization(knex(), scope.organizationId),
      speechHints(knex(), scope, replies),
    ]);
    const lang = asVoiceLang(conversation?.language ?? orgSettings(organization).default_language);
    const language = LOCALES[lang];
    const response = new twilio.twiml.VoiceResponse();
    const opening = next.opening ? [opts.say(lang, next.opening, { clinic: organization.name })] : [];
    const lines = [...opening, ...replies.flatMap((r) => spokenLines(opts.say, lang, r))];
    const transferTo = orgSettings(organization).voice_transfer_number;
    const then = callNext(conversation?.status, replies, transferTo);
    if (then === 'listen') {
      const gather = response.gather({
        input: ['speech', 'dtmf'], language, speechTimeout: 'auto', timeout: 6, actionOnEmptyResult: true, method: 'POST', hints,
        action: `${publicBase(config, ctx)}${VOICE_GATHER_PATH}?n=${next.n}${next.silent ? `&silent=${next.silent}` : ''}`,
      });
      for (const line of lines) gather.say({ language }, line);
    } else {
      for (const line of [...lines, opts.say(lang, closingKey(then))]) response.say({ language }, line);
      if (then === 'transfer') response.dial({ callerId: call.to_number ?? undefined }, transferTo!);
      else response.hangup();
    }
    xml(ctx, response.toString());
  }

  router.post(VOICE_INCOMING_PATH, async (ctx) => {
    const params = verifiedParams(ctx, 'incoming call');
    if (!params) return;
    const from = toE164(params.From ?? '');
    const now = opts.clock.now();
    // The number's own clinic (settings.voice_number, else the same number's sms_number), else the first one.
    const account = await organizationForChannelAccount(knex(), 'voice_number', params.To);
    const org = account?.own ? account : (await organizationForChannelAccount(knex(), 'sms_number', params.To)) ?? account;
    if (!org || !from) {
      // A withheld number or no clinic: the bot cannot keep a conversation; say so and end the call.
      logger.warn({ anonymous: !from }, 'voice: call without a caller number or for no organization; ended');
      const response = new twilio.twiml.VoiceResponse();
      response.say({ language: LOCALES.en }, opts.say('en', 'voice_goodbye'));
      response.hangup();
      return xml(ctx, response.toString());
    }
    const scope = { organizationId: org.id };
    const recognition = opts.recognition ?? 'twilio';
    const call = await startCall(knex(), scope, { callSid: params.CallSid!, from, to: params.To ?? null, status: asCallStatus(params.CallStatus) ?? 'ringing', recognition, now });
    const { conversationId } = await opts.welcome({ organizationId: org.id, channel: 'voice', from, receivedAt: now });
    await recordCallTurn(knex(), scope, call.id, { conversationId, turn: false, now });
    logger.info({ call_sid: call.call_sid, from: maskPhone(from), recognition: call.recognition }, 'voice: call answered');
    if (call.recognition === 'stream') return connectStream(ctx, call);
    const replies = await claimSpokenReplies(knex(), scope, conversationId, call.call_sid, now);
    await answer(ctx, scope, call, conversationId, replies, { n: call.turns + 1, silent: 0, opening: 'voice_greeting' });
  });

  /** The call's audio goes to our Media Stream socket, which greets the caller; when it ends, Twilio asks the <Connect> action what next. */
  function connectStream(ctx: Context, call: Call): void {
    const base = publicBase(config, ctx);
    const response = new twilio.twiml.VoiceResponse();
    const connect = response.connect({ action: `${base}${VOICE_STREAM_ENDED_PATH}`, method: 'POST' });
    connect.stream({ url: `${publicWsBase(base)}${VOICE_STREAM_PATH}/${call.call_sid}` });
    xml(ctx, response.toString());
  }

  /**
   * The <Connect> action, when the call's Media Stream ends: hang up or put
   * the caller through as the bot decided (models/calls.ts
   * recordStreamEnding); a stream that ended otherwise (dropped, our speech
   * service failing, this service restarting) goes on in a <Gather> with
   * Twilio's recognizer, saying what is still to be said, else the bot's
   * last words.
   */
  router.post(VOICE_STREAM_ENDED_PATH, async (ctx) => {
    const params = verifiedParams(ctx, 'stream end');
    if (!params) return;
    const call = await findCallBySid(knex(), params.CallSid!);
    const response = new twilio.twiml.VoiceResponse();
    if (!call || !call.conversation_id || call.stream_ended === 'hangup') {
      response.hangup();
      return xml(ctx, response.toString());
    }
    const scope = { organizationId: call.organization_id };
    if (call.stream_ended === 'transfer') {
      const transferTo = orgSettings(await getOrganization(knex(), scope.organizationId)).voice_transfer_number;
      if (transferTo) response.dial({ callerId: call.to_number ?? undefined }, transferTo);
      else response.hangup();
      return xml(ctx, response.toString());
    }
    const now = opts.clock.now();
    if (call.recognition === 'stream') await fallBackToGather(knex(), scope, call.id, now);
    logger.info({ call_sid: call.call_sid }, 'voice: the media stream ended without the bot ending it; the call goes on with Twilio\'s recognizer');
    const queued = await claimSpokenReplies(knex(), scope, call.conversation_id, call.call_sid, now);
    const last = queued.length ? undefined : await lastAssistantReply(knex(), scope, call.conversation_id);
    await answer(ctx, scope, call, call.conversation_id, queued.length ? queued : last ? [last] : [], {
      n: call.turns + 1, silent: 0, opening: call.turns === 0 && queued.length ? 'voice_greeting' : undefined,
    });
  });

  router.post(VOICE_GATHER_PATH, async (ctx) => {
    const params = verifiedParams(ctx, 'gather');
    if (!params) return;
    const call = await findCallBySid(knex(), params.CallSid!);
    if (!call || !call.conversation_id) {
      const response = new twilio.twiml.VoiceResponse();
      response.hangup();
      return xml(ctx, response.toString());
    }
    const scope = { organizationId: call.organization_id };
    const n = Math.max(1, Number(ctx.query.n) || call.turns + 1);
    const silent = Number(ctx.query.silent) || 0;
    const text = (params.SpeechResult || params.Digits || '').trim();
    const now = opts.clock.now();
    if (!text) {
      if (silent >= MAX_SILENT_PROMPTS) return hangUpSilently(ctx, scope, call);
      const last = await lastAssistantReply(knex(), scope, call.conversation_id);
      return answer(ctx, scope, call, call.conversation_id, last ? [last] : [], { n, silent: silent + 1, opening: 'voice_no_input' });
    }
    const turn = opts.onInbound({
      organizationId: call.organization_id, channel: 'voice', from: call.from_number, providerMessageId: `${call.call_sid}:${n}`, text, receivedAt: now,
    });
    let stored: Awaited<typeof turn> | undefined;
    // The deadline runs from now, stored or not: a caller waits on the line, and Twilio gives up on the call after 15 s.
    await answerWithin(turn.then((r) => { stored = r; }), opts.replyWithinMs ?? 10_000, logger, 'voice: turn failed after the call was answered', Promise.resolve());
    const conversationId = stored?.conversationId ?? call.conversation_id;
    if (stored && !stored.duplicate) await recordCallTurn(knex(), scope, call.id, { conversationId, turn: true, now });
    let replies = await claimSpokenReplies(knex(), scope, conversationId, call.call_sid, now);
    if (replies.length === 0 && stored?.duplicate) replies = await spokenRepliesAfter(knex(), scope, conversationId, stored.messageId);
    logger.debug({ call_sid: call.call_sid, n, replies: replies.length, duplicate: stored?.duplicate ?? null }, 'voice: gather answered');
    await answer(ctx, scope, call, conversationId, replies, { n: n + 1, silent: 0 });
  });

  /** After the last silent prompt: the goodbye, and the call ends. */
  async function hangUpSilently(ctx: Context, scope: OrgScope, call: Call): Promise<void> {
    const conversation = await Conversation.query(knex()).findOne({ id: call.conversation_id!, organization_id: scope.organizationId });
    const lang = asVoiceLang(conversation?.language);
    const response = new twilio.twiml.VoiceResponse();
    response.say({ language: LOCALES[lang] }, opts.say(lang, 'voice_goodbye'));
    response.hangup();
    xml(ctx, response.toString());
  }

  router.post(VOICE_STATUS_PATH, async (ctx) => {
    const params = verifiedParams(ctx, 'status callback');
    if (!params) return;
    const call = await findCallBySid(knex(), params.CallSid!);
    const status = asCallStatus(params.CallStatus);
    if (call && status) {
      const duration = params.CallDuration !== undefined && params.CallDuration !== '' ? Number(params.CallDuration) : null;
      const updated = await recordCallStatus(knex(), { organizationId: call.organization_id }, call, {
        status, durationSeconds: Number.isFinite(duration) ? duration : null, now: opts.clock.now(),
      });
      logger.info({ call_sid: call.call_sid, status: updated.status, duration_seconds: updated.duration_seconds }, 'voice: call status');
    }
    ctx.status = 200;
    ctx.body = { success: true, message: call ? 'Call status updated' : 'Unknown call' };
  });

  return router;
}
