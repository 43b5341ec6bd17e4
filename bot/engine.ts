/**
 * The conversation engine around the pure dialogue: every channel's
 * `onInbound`. One inbound message is one turn:
 *   A. the message is stored (idempotent) in the open conversation: one statement
 *      in the usual case, a short transaction when a conversation opens or changes;
 *   B. the message is understood outside any transaction (an LLM call is network I/O;
 *      a voice note is heard first: runtime/voiceNotes.ts);
 *   C. the dialogue runs step by step on the conversation as step A read it,
 *      each action applied through the domain operations, and the replies
 *      (queued) and the new state are stored in one statement guarded by the
 *      conversation's state_version. A turn that only reads needs no
 *      transaction; the first write opens one and locks the conversation
 *      (bot/runtime/turnDb.ts). When another turn or a staff action got there
 *      first, the turn is played again in a transaction that locks the
 *      conversation from the start (concurrent turns of one conversation then
 *      run one after the other). After commit the dispatcher is kicked.
 */
import type { Knex } from 'knex';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Database } from '../models/db.js';
import { CLINIC_CHANGED_CHANNEL } from '../models/clinicChanges.js';
import type { Db, OrgScope } from '../models/base.js';
import { Conversation, findOrCreateOpenConversation, updateDialogueState } from '../models/conversations.js';
import { lockConversationForTurn, saveTurn, storeInboundInOpenConversation, type InboundInOpenConversation } from '../models/turns.js';
import { OPEN_ASK_KEY, phoneAskOpen, queueOutboundMessage, storeInboundMessage } from '../models/messages.js';
import type { Patient } from '../models/patients.js';
import { claimedAtInsert, type ClaimedMessage } from '../models/outbox.js';
import { storableInbound, type HearVoiceNote, type InboundMessage, type InboundResult, type OnInbound } from '../lib/inbound.js';
import { hearVoiceNote } from './runtime/voiceNotes.js';
import { render } from './catalog/index.js';
import { initialState, step } from './dialogue/index.js';
import type { DialogueContext, DialogueEvent, DialogueState, Flow } from './dialogue/types.js';
import type { Understander, Understanding, UnderstandContext } from './understanding/types.js';
import { formatDateTime } from './format.js';
import { asLang, ClinicCache, langOfTag, type ClinicContext } from './runtime/context.js';
import { findLivePatient, isPhoneChannel, resolveSender } from './runtime/identify.js';
import { refreshPatientContext, runAction, type TurnRuntime } from './runtime/actions.js';
import { markAskReplies } from './runtime/asks.js';
import { lockedTurnDb, OptimisticTurnDb, StaleTurnError, type TurnDb } from './runtime/turnDb.js';

export interface EngineOptions {
  db: Database;
  logger: Logger;
  clock: Clock;
  /** The understander for patient messages (rules, or the LLM with rules as fallback). */
  understander: Understander;
  /** The rules alone: used while staff hold a conversation (only STOP/START matter then). */
  rules: Understander;
  /** An open conversation silent this long is closed and a new one opened (CONVERSATION_IDLE_MINUTES). */
  idleMinutes: number;
  /** Used when the organization has no `emergency_number` setting (EMERGENCY_NUMBER). */
  emergencyNumber: string;
  /** How long a clinic's doctors and settings are cached. */
  clinicCacheMs?: number;
  /** Called after a commit that queued outbound messages (main.ts: dispatcher.kick()). */
  onQueued?: () => void;
  /**
   * This instance's dispatcher, when it sends the turn's replies itself (main.ts): the replies are stored
   * claimed for it, and handed to it after the commit, without a claim between the commit and the send.
   */
  handOver?: HandOver;
  /** Fetches (and hears) a patient's voice note (bot/runtime/voiceNotes.ts); mediaBaseUrl (PUBLIC_URL) makes its kept file's address absolute. */
  hearVoiceNote?: HearVoiceNote;
  mediaBaseUrl?: string;
}

/** What the engine needs of a dispatcher that takes a turn's replies straight from its commit (OutboundDispatcher). */
export interface HandOver {
  /** The lease to store the replies under, or null: queue them for a claim as usual. */
  claimUntil(channel: string, organizationId: string): Date | null;
  /** The replies stored under that lease, after their commit. */
  sendClaimed(messages: readonly ClaimedMessage[]): void;
}

/** A played turn: how many replies it stored, and those stored claimed for this instance to send (EngineOptions.handOver). */
interface PlayedTurn { queued: number; claimed: ClaimedMessage[] }

const NOTHING_PLAYED: PlayedTurn = { queued: 0, claimed: [] };

/** Dialogue steps per turn at most: a guard against a result event that never settles. */
export const MAX_STEPS_PER_TURN = 10;

const FLOWS = new Set<Flow>(['idle', 'identify', 'book', 'cancel', 'reschedule', 'confirm', 'handoff']);

/** The stored dialogue state, or null when absent or not a state this code understands. */
export function parseDialogueState(raw: unknown): DialogueState | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const language = asLang(r.language);
  if (!language || !FLOWS.has(r.flow as Flow)) return null;
  return {
    flow: r.flow as Flow,
    // Resuming a handed-off conversation clears the step.
    step: typeof r.step === 'string' ? r.step : 'menu',
    language,
    misunderstood: typeof r.misunderstood === 'number' ? r.misunderstood : 0,
    data: r.data && typeof r.data === 'object' ? (r.data as Record<string, unknown>) : {},
  };
}

/** Set by the reminder job: the next message of the conversation answers that appointment's reminder. */
const REMINDER_KEY = 'reminderAppointmentId';
/** A name given off a phone channel, kept until the phone number arrives (see identify.ts). */
const PENDING_NAME_KEY = 'pendingName';

/**
 * Marks the conversation's next patient message as the answer to a reminder of
 * `appointmentId` (1 confirm, 2 reschedule, 3 cancel). Call it in the
 * transaction that queues the reminder.
 */
export async function setReminderContext(db: Db, scope: OrgScope, conversationId: string, appointmentId: string): Promise<void> {
  const k = db as Knex;
  const run = async (trx: Knex.Transaction) => {
    const row = await Conversation.query(trx).where({ id: conversationId, organization_id: scope.organizationId }).forUpdate().first();
    if (!row) return;
    const current = parseDialogueState(row.dialogue_state) ?? initialState(asLang(row.language) ?? 'en');
    const state: DialogueState = { ...current, data: { ...current.data, [REMINDER_KEY]: appointmentId } };
    await updateDialogueState(trx, scope, conversationId, row.state_version, state as unknown as Record<string, unknown>);
  };
  if ((k as Knex.Transaction).isTransaction) await run(k as Knex.Transaction); else await k.transaction(run);
}

interface StoredTurn {
  conversationId: string; messageId: string; duplicate: boolean; patientId: string | null; status: string; hint: DialogueState | null; language: string | null;
  /** The live patient of patientId as read while storing (for the understanding's language hint). */
  patient: Patient | undefined;
  /** The conversation as the one-statement store read it (with its state_version): the turn starts from it without a lock. */
  conversation?: InboundInOpenConversation['conversation'];
}

/** What a turn plays on: the conversation row (as stored or as locked) and its live patient. */
interface TurnStart {
  conversation: Pick<Conversation, 'id' | 'status' | 'dialogue_state' | 'language' | 'state_version' | 'channel' | 'channel_address'>;
  patient: Patient | undefined;
}

export class ConversationEngine {
  private readonly clinics: ClinicCache;

  constructor(private readonly opts: EngineOptions) {
    this.clinics = new ClinicCache(opts.clinicCacheMs ?? 30_000, opts.emergencyNumber);
  }

  /** The `onInbound` of every channel adapter (bound: pass it around as is). */
  readonly handleInbound: OnInbound = (msg) => this.handle(storableInbound(msg));

  /**
   * The bot speaks first (a phone call): opens or finds the open conversation
   * of the address and plays a greeting turn on it, as if the sender had said
   * hello, without storing an inbound message. The welcome and the menu are
   * queued (the question still open, asked again, in a conversation that was
   * under way); staff's conversation is left as it is.
   */
  async welcome(input: { organizationId: string; channel: InboundMessage['channel']; from: string; receivedAt: Date }): Promise<{ conversationId: string }> {
    const scope: OrgScope = { organizationId: input.organizationId };
    const sender = await resolveSender(this.knex, scope, input.channel, input.from);
    const conversation = await this.knex.transaction((trx) => findOrCreateOpenConversation(trx, scope, {
      channel: input.channel, address: input.from, patientId: sender?.id ?? null, language: sender?.preferred_language ?? null,
      idleMinutes: this.opts.idleMinutes, now: input.receivedAt,
    }));
    if (conversation.status !== 'bot') return { conversationId: conversation.id };
    const msg: InboundMessage = { organizationId: input.organizationId, channel: input.channel, from: input.from, providerMessageId: null, text: '', receivedAt: input.receivedAt };
    const stored: StoredTurn = {
      conversationId: conversation.id, messageId: '', duplicate: false, patientId: conversation.patient_id ?? sender?.id ?? null, status: conversation.status,
      hint: parseDialogueState(conversation.dialogue_state), language: conversation.language, patient: sender,
    };
    const clinic = await this.clinics.get(this.knex, input.organizationId);
    this.dispatch(await this.turn(scope, msg, stored, { intent: 'greet', language: null }, clinic, this.opts.clock.now()));
    return { conversationId: conversation.id };
  }

  /**
   * Drops a clinic's cached data when any instance changes its doctors or
   * settings (models/clinicChanges.ts), so the next turn sees the change; the
   * cache's time to live still bounds a notification lost with the listening
   * connection. Returns the unsubscribe function.
   */
  listenForClinicChanges(): Promise<() => Promise<void>> {
    return this.opts.db.listen(CLINIC_CHANGED_CHANNEL, (organizationId) => this.clinics.invalidate(organizationId || undefined));
  }

  private get knex(): Knex {
    return this.opts.db.knex;
  }

  private async handle(msg: InboundMessage): Promise<InboundResult> {
    const scope: OrgScope = { organizationId: msg.organizationId };
    const stored = await this.store(scope, msg);
    const result = { messageId: stored.messageId, conversationId: stored.conversationId, duplicate: stored.duplicate };
    msg.onStored?.({ ...result, botAnswers: !stored.duplicate && stored.status === 'bot' });
    if (stored.duplicate || stored.status === 'closed') return result;
    const heard = await hearVoiceNote(this.opts, this.knex, scope, msg, stored.messageId);
    if (heard) msg = { ...msg, text: heard };
    const clinic = await this.clinics.get(this.knex, msg.organizationId);
    const now = this.opts.clock.now();
    const understanding = await this.understand(msg.text, stored, stored.patient, clinic, now);
    try {
      this.dispatch(await this.turn(scope, msg, stored, understanding, clinic, now));
    } catch (err) {
      await this.apologize(scope, msg, stored, err);
    }
    return result;
  }

  /**
   * Step A: the conversation and the inbound message. The usual case (an open
   * conversation that takes the message as it is) is one statement after the
   * sender is known, without a transaction. Opening, closing or filling in a
   * conversation, and a redelivered message, go the long way in a transaction.
   */
  private async store(scope: OrgScope, msg: InboundMessage): Promise<StoredTurn> {
    // A phone number may belong to a patient the open conversation does not know yet, so phone channels look the
    // sender up first. A web chat session links its patient and its conversation together (identify), so only a
    // conversation that has to open needs the session's patient: the usual message is one statement.
    const sender = isPhoneChannel(msg.channel) ? await resolveSender(this.knex, scope, msg.channel, msg.from) : undefined;
    const fast = await storeInboundInOpenConversation(this.knex, scope, {
      channel: msg.channel, from: msg.from, senderPatientId: sender?.id ?? null, senderLanguage: sender?.preferred_language ?? langOfTag(msg.languageHint),
      text: msg.text, providerMessageId: msg.providerMessageId, clientMessageId: msg.clientMessageId ?? null, receivedAt: msg.receivedAt,
      ...(msg.media?.length ? { metadata: { media: msg.media } } : {}), idleMinutes: this.opts.idleMinutes,
    });
    if (fast?.messageId) {
      const { conversation, patient } = fast;
      return {
        conversationId: conversation.id, messageId: fast.messageId, duplicate: false, patientId: patient?.id ?? conversation.patient_id ?? null,
        status: conversation.status, hint: parseDialogueState(conversation.dialogue_state), language: conversation.language, patient, conversation,
      };
    }
    return this.storeSlow(scope, msg, isPhoneChannel(msg.channel) ? sender : await resolveSender(this.knex, scope, msg.channel, msg.from));
  }

  /** Opening, closing or filling in a conversation, or a redelivered message: in a transaction. */
  private storeSlow(scope: OrgScope, msg: InboundMessage, sender: Patient | undefined): Promise<StoredTurn> {
    return this.knex.transaction(async (trx) => {
      const conversation = await findOrCreateOpenConversation(trx, scope, {
        // A new conversation speaks the patient's language, else the one the sender's app is set to (Telegram's language_code).
        channel: msg.channel, address: msg.from, patientId: sender?.id ?? null, language: sender?.preferred_language ?? langOfTag(msg.languageHint),
        idleMinutes: this.opts.idleMinutes, now: msg.receivedAt,
      });
      return this.storeIn(trx, scope, msg, conversation, sender);
    });
  }

  private async storeIn(db: Knex.Transaction, scope: OrgScope, msg: InboundMessage, conversation: Conversation, sender: Patient | undefined): Promise<StoredTurn> {
    const patientId = conversation.patient_id ?? sender?.id ?? null;
    const inbound = await storeInboundMessage(db, scope, {
      conversationId: conversation.id, patientId, channel: msg.channel, from: msg.from, text: msg.text,
      providerMessageId: msg.providerMessageId, clientMessageId: msg.clientMessageId ?? null, receivedAt: msg.receivedAt,
      ...(msg.media?.length ? { metadata: { media: msg.media } } : {}),
    });
    const patient = patientId === (sender?.id ?? null) ? sender : await findLivePatient(db, scope, patientId);
    return {
      conversationId: inbound.message.conversation_id ?? conversation.id, messageId: inbound.message.id, duplicate: inbound.duplicate,
      patientId, status: conversation.status, hint: parseDialogueState(conversation.dialogue_state), language: conversation.language, patient,
    };
  }

  /** Outside any transaction. While staff hold the conversation only the rules listen (STOP/START). */
  private async understand(text: string, stored: StoredTurn, patient: Patient | undefined, clinic: ClinicContext, now: Date): Promise<Understanding> {
    const ctx: UnderstandContext = {
      now, timeZone: clinic.timeZone, specializations: clinic.specializations, doctors: clinic.doctors,
      languageHint: stored.hint?.language ?? asLang(stored.language) ?? asLang(patient?.preferred_language) ?? null,
    };
    const understander = stored.status === 'handoff' ? this.opts.rules : this.opts.understander;
    try {
      return await understander.understand(text, ctx);
    } catch (err) {
      this.opts.logger.warn({ err: { message: (err as Error).message } }, 'engine: understanding failed; using the rules');
      return this.opts.rules.understand(text, ctx);
    }
  }

  /** After a turn's commit: its claimed replies to the dispatcher, and a kick for any left queued. */
  private dispatch(played: PlayedTurn): void {
    if (played.claimed.length > 0) this.opts.handOver?.sendClaimed(played.claimed);
    if (played.queued > played.claimed.length) this.opts.onQueued?.();
  }

  /** Step C. */
  private async turn(scope: OrgScope, msg: InboundMessage, stored: StoredTurn, u: Understanding, clinic: ClinicContext, now: Date): Promise<PlayedTurn> {
    const row = stored.conversation;
    // Without a lock first when the store read the conversation and the bot holds it (the usual message).
    if (row && row.status === 'bot') {
      const db = new OptimisticTurnDb(this.knex, scope, row.id, row.state_version);
      try {
        const queued = await this.play(db, scope, msg, { conversation: row, patient: stored.patient }, u, clinic, now);
        if (queued !== null) {
          await db.commit();
          return queued;
        }
      } catch (err) {
        if (!(err instanceof StaleTurnError)) {
          await db.rollback().catch(() => undefined);
          throw err;
        }
      }
      await db.rollback();
    }
    return this.knex.transaction(async (trx) => {
      // The conversation locked and its patient read under the lock, in one statement.
      const locked = await lockConversationForTurn(trx, scope, stored.conversationId, stored.patientId);
      if (!locked || locked.conversation.status === 'closed') return NOTHING_PLAYED;
      const queued = await this.play(lockedTurnDb(trx), scope, msg, locked, u, clinic, now);
      if (queued === null) throw new Error('dialogue state changed under a locked conversation');
      return queued;
    });
  }

  /**
   * One dialogue turn on the conversation as `start` read it, saved at the end
   * in one statement guarded by its state_version. Null when the guard failed
   * (nothing saved: play it again).
   */
  private async play(db: TurnDb, scope: OrgScope, msg: InboundMessage, start: TurnStart, u: Understanding, clinic: ClinicContext, now: Date): Promise<PlayedTurn | null> {
    const { conversation: row, patient } = start;
    // Staff hold the conversation: the bot is silent, but STOP and START always work.
    if (row.status === 'handoff' && !(u.intent === 'opt_out' || (u.intent === 'opt_in' && patient?.opted_out_at))) return NOTHING_PLAYED;

    const loaded = parseDialogueState(row.dialogue_state);
    const language = u.language ?? loaded?.language ?? asLang(row.language) ?? asLang(patient?.preferred_language) ?? clinic.defaultLanguage;
    let state: DialogueState = loaded ? structuredClone(loaded) : initialState(language);
    const earlierName = typeof state.data[PENDING_NAME_KEY] === 'string' ? (state.data[PENDING_NAME_KEY] as string) : undefined;
    const reminderId = typeof state.data[REMINDER_KEY] === 'string' ? (state.data[REMINDER_KEY] as string) : undefined;
    // Read from the stored state: a new conversation's may hold only the ask its address's last one left open
    // (findOrCreateOpenConversation), which is not a dialogue yet.
    const askOpen = phoneAskOpen(row.dialogue_state);
    delete state.data[REMINDER_KEY];
    delete state.data[OPEN_ASK_KEY];

    const ctx: DialogueContext = {
      now, timeZone: clinic.timeZone, patient: { identified: false, name: null, hasPhone: false, optedOut: false },
      channel: { name: msg.channel, needsPhone: !isPhoneChannel(msg.channel) }, specializations: clinic.specializations,
      doctors: clinic.doctors, emergencyNumber: clinic.emergencyNumber, clinic: clinic.info, formatDateTime: (iso, lang) => formatDateTime(iso, lang, clinic.timeZone),
    };
    const rt: TurnRuntime = {
      db, stateVersion: row.state_version, scope, now, clinic, ctx, patient, pendingName: undefined, profileName: msg.profileName ?? null,
      conversation: { id: row.id, channel: row.channel, address: row.channel_address }, replies: [], summary: undefined, language: undefined,
    };
    refreshPatientContext(rt);

    let event: DialogueEvent | null = reminderId
      ? { type: 'reminder_reply', appointmentId: reminderId, understanding: u }
      : { type: 'message', text: msg.text, understanding: u };
    for (let steps = 0; event && steps < MAX_STEPS_PER_TURN; steps++) {
      const result = step(state, event, ctx);
      state = result.state;
      event = null;
      const transactional = result.actions.some((a) => a.type === 'opt_out');
      for (const action of result.actions) {
        const outcome = await runAction(rt, state, action, { transactional, earlierName });
        if (outcome === 'confirm_failed') {
          await runAction(rt, state, { type: 'reply', key: 'appointment_not_found' }, { transactional: false, earlierName });
          state = { ...initialState(state.language), step: 'menu' };
        } else if (outcome) {
          event = outcome;
        }
      }
    }
    if (event) this.opts.logger.warn({ conversation_id: row.id, event: event.type }, 'engine: dialogue did not settle within the step limit');

    if (rt.pendingName && state.flow === 'identify') state.data[PENDING_NAME_KEY] = rt.pendingName;
    else if (state.flow !== 'identify' || rt.patient) delete state.data[PENDING_NAME_KEY];
    if (markAskReplies(rt.replies, askOpen)) state.data[OPEN_ASK_KEY] = 'phone';
    // The replies, the state, the counters and the insights in one statement: in the turn's transaction when it wrote.
    // Replies due now go to this instance's dispatcher straight from the commit (a reply the clinic scheduled waits to be claimed).
    const claimUntil = rt.replies.length > 0 && rt.replies.every((r) => !r.notBefore) ? this.opts.handOver?.claimUntil(row.channel, scope.organizationId) : null;
    const saved = await saveTurn(db.reader, scope, row.id, {
      expectedVersion: rt.stateVersion, state: state as unknown as Record<string, unknown>, replies: rt.replies, lastMessageAt: now,
      insights: { intent: u.intent, language: rt.language ?? state.language, ...(rt.summary ? { summary: rt.summary } : {}) },
      ...(claimUntil ? { claim: { until: claimUntil, now: this.opts.clock.now() } } : {}),
    });
    if (!saved) return null;
    this.opts.logger.debug({ conversation_id: row.id, intent: u.intent, flow: state.flow, step: state.step, queued: rt.replies.length }, 'engine: turn done');
    return { queued: rt.replies.length, claimed: saved.claimed.map((c) => claimedAtInsert(scope, c, now)) };
  }

  /** The turn failed (a bug or the database): the message is stored; tell the patient to try again rather than stay silent. */
  private async apologize(scope: OrgScope, msg: InboundMessage, stored: StoredTurn, err: unknown): Promise<void> {
    // A database error message can quote row values (a phone number): only its kind above debug.
    const e = err as { name?: string; code?: string };
    this.opts.logger.error({ err: { name: e.name, code: e.code }, conversation_id: stored.conversationId }, 'engine: turn failed');
    this.opts.logger.debug({ err }, 'engine: turn failure detail');
    try {
      const lang = stored.hint?.language ?? asLang(stored.language) ?? 'en';
      await queueOutboundMessage(this.knex, scope, {
        conversationId: stored.conversationId, patientId: stored.patientId, channel: msg.channel, to: msg.from,
        text: render(lang, 'action_failed'), sender: 'assistant', metadata: { reply_key: 'action_failed' }, now: this.opts.clock.now(),
      });
      this.opts.onQueued?.();
    } catch (inner) {
      this.opts.logger.error({ err: { name: (inner as Error).name } }, 'engine: could not queue the apology either');
    }
  }
}

/** Builds the engine; `engine.handleInbound` is the `onInbound` of every adapter. */
export function createEngine(opts: EngineOptions): ConversationEngine {
  return new ConversationEngine(opts);
}
