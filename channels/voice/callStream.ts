/**
 * One call heard over Twilio's Media Stream (VOICE_RECOGNITION=stream): the
 * caller's audio (8 kHz mu-law, 20 ms frames) is cut into utterances by the
 * end-pointer, each utterance is heard by our speech to text and played to
 * the engine as the caller's message, and the replies are spoken back with
 * our text to speech, followed by a mark that Twilio returns once played.
 *
 * - Keys pressed (dtmf) are a message too, like a <Gather>'s Digits.
 * - Speaking over the bot (or pressing a key) stops it at once (`clear`),
 *   except for its last words before the call ends.
 * - Silence asks again twice, then says goodbye, as a <Gather> does.
 * - The bot ends the stream to hang up or put the caller through; it records
 *   which first (models/calls.ts recordStreamEnding), and the <Connect>
 *   action, on whichever instance Twilio asks, does it. When our speech
 *   service fails, the stream ends without one and the call goes on with
 *   Twilio's recognizer.
 *
 * Timing follows the audio's own clock (Twilio sends a frame every 20 ms,
 * silence included), so nothing here waits on wall-clock timers.
 */
import type { WebSocket } from 'ws';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import type { Transcriber } from '../../lib/transcription.js';
import type { Speaker } from '../../lib/speech.js';
import { mulawDecode, pcm16ToWav } from '../../lib/telephonyAudio.js';
import { UtteranceDetector, type UtteranceEvent } from '../../lib/utterances.js';
import type { Database } from '../../models/db.js';
import type { OrgScope } from '../../models/base.js';
import { Conversation } from '../../models/conversations.js';
import { getOrganization } from '../../models/organizations.js';
import { orgSettings } from '../../models/settings.js';
import {
  claimSpokenReplies, lastAssistantReply, recordCallTurn, recordStreamEnding, type Call, type SpokenReply,
} from '../../models/calls.js';
import type { OnInbound } from '../types.js';
import { asVoiceLang, callNext, closingKey, MAX_SILENT_PROMPTS, speechHints, spokenLines, type CallNext, type SayLine, type VoiceLang } from './callScript.js';
import type { SpeechCache } from './speechCache.js';
import { LineAudio, PHONE_SAMPLE_RATE } from './lineAudio.js';
import { parseTwilioStreamMessage, type TwilioStreamMessage } from './streamProtocol.js';

/** Audio per media message we send: Twilio plays them in order, whatever their size. */
const SEND_CHUNK_BYTES = PHONE_SAMPLE_RATE / 2;
/** Keys pressed are one message once the caller stops pressing for this long (or presses #). */
const DIGITS_PAUSE_MS = 1500;
/** Utterances in a row the speech to text could not hear before the call goes on with Twilio's recognizer. */
const MAX_UNHEARD = 3;

export interface CallStreamDeps {
  config: Config;
  db: Database;
  logger: Logger;
  clock: Clock;
  onInbound: OnInbound;
  say: SayLine;
  transcriber: Transcriber;
  speaker: Speaker;
  /** The catalog's lines already spoken (greetings, options), shared by the calls. */
  speech: SpeechCache;
  endOfSpeechMs: number;
  noInputMs: number;
}

/** What the calls counted (VoiceStreamServer.stats, /metrics). */
export interface CallStreamStats { opened: number; utterances: number; notHeard: number; fallbacks: number }

/** A line to speak, and whether it is the catalog's (the same for every caller, so its audio is kept). */
interface Line { text: string; shared: boolean }

type State = 'connecting' | 'speaking' | 'listening' | 'busy' | 'ended';

export class CallStream {
  private state: State = 'connecting';
  private streamSid: string | null = null;
  private readonly scope: OrgScope;
  private conversationId: string;
  private turn: number;
  private lang: VoiceLang = 'en';
  /**
   * Whether the caller's language is known (their patient's, or what the
   * engine heard in their words): until then the transcriber tells it, so a
   * Spanish caller to an English clinic is not heard as English.
   */
  private langKnown = false;
  private hints = '';
  /** What follows the words being spoken, and the mark Twilio returns when they are played. */
  private after: CallNext = 'listen';
  private pendingMark: string | null = null;
  private marks = 0;
  private silentPrompts = 0;
  private unheard = 0;
  private digits = '';
  private lastDigitAtMs = 0;
  private readonly detector: UtteranceDetector;
  /** Everything that talks to the database or the speech service runs in order, one at a time. */
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly ws: WebSocket, private readonly call: Call, private readonly deps: CallStreamDeps, private readonly stats: CallStreamStats) {
    this.scope = { organizationId: call.organization_id };
    this.conversationId = call.conversation_id!;
    this.turn = call.turns;
    this.detector = new UtteranceDetector({ sampleRate: PHONE_SAMPLE_RATE, endSilenceMs: deps.endOfSpeechMs });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = parseTwilioStreamMessage(data.toString());
      if (message) this.onMessage(message);
    });
    ws.on('close', () => this.end());
    ws.on('error', (err) => deps.logger.debug({ err: { message: err.message }, call_sid: call.call_sid }, 'voice stream: socket error'));
  }

  get callSid(): string {
    return this.call.call_sid;
  }

  /** The service is stopping: the call goes on with Twilio's recognizer (the <Connect> action, on another instance). */
  close(code = 1001): void {
    if (this.state !== 'ended') this.ws.close(code, 'going away');
  }

  private onMessage(message: TwilioStreamMessage): void {
    if (this.state === 'ended') return;
    switch (message.event) {
      case 'start':
        if (message.callSid && message.callSid !== this.call.call_sid) {
          this.deps.logger.warn({ call_sid: this.call.call_sid }, 'voice stream: start names another call; closed');
          this.ws.close(1008, 'call mismatch');
          return;
        }
        this.streamSid = message.streamSid;
        this.deps.logger.info({ call_sid: this.call.call_sid }, 'voice stream: started');
        this.state = 'busy';
        this.queue(() => this.greet());
        return;
      case 'media':
        if (this.streamSid) this.hearAudio(mulawDecode(message.payload));
        return;
      case 'dtmf':
        return this.pressed(message.digit);
      case 'mark':
        if (message.name === this.pendingMark) this.played();
        return;
      case 'stop':
        this.ws.close(1000, 'stream stopped');
        return;
    }
  }

  private hearAudio(samples: Int16Array): void {
    for (const event of this.detector.push(samples)) this.onUtteranceEvent(event);
    if (this.digits && this.detector.positionMs - this.lastDigitAtMs >= DIGITS_PAUSE_MS) this.sendDigits();
    if (this.state === 'listening' && !this.detector.inSpeech && !this.digits && this.detector.silentMs >= this.deps.noInputMs) {
      this.state = 'busy';
      this.queue(() => this.askAgain());
    }
  }

  private onUtteranceEvent(event: UtteranceEvent): void {
    if (event.type === 'speech-start') {
      if (this.state === 'speaking' && this.after === 'listen') this.bargeIn();
      return;
    }
    if (event.type !== 'utterance') return;
    // The bot's last words before the call ends are not interrupted, nor answered.
    if (this.state === 'ended' || this.after !== 'listen') return;
    // Speech that began while the bot was thinking and went on over its answer: the answer stops, the words are heard.
    if (this.state === 'speaking') this.bargeIn();
    this.state = 'busy';
    const samples = event.samples;
    this.queue(() => this.hear(samples));
  }

  private pressed(digit: string): void {
    if (this.state === 'speaking' && this.after === 'listen') this.bargeIn();
    if (this.after !== 'listen' || this.state === 'connecting') return;
    if (digit === '#') return this.sendDigits();
    if (!/^[0-9*]$/.test(digit)) return;
    this.digits += digit;
    this.lastDigitAtMs = this.detector.positionMs;
  }

  private sendDigits(): void {
    const digits = this.digits;
    this.digits = '';
    if (!digits) return;
    this.state = 'busy';
    this.queue(() => this.answer(digits));
  }

  /** The caller speaks over the bot: Twilio drops what it has not played yet. */
  private bargeIn(): void {
    this.send({ event: 'clear', streamSid: this.streamSid });
    this.pendingMark = null;
    this.state = 'listening';
    this.deps.logger.debug({ call_sid: this.call.call_sid }, 'voice stream: the caller spoke over the bot');
  }

  private queue(task: () => Promise<void>): void {
    this.work = this.work.then(async () => {
      if (this.state === 'ended') return;
      try {
        await task();
      } catch (err) {
        this.deps.logger.error({ err, call_sid: this.call.call_sid }, 'voice stream: turn failed; the call goes on with Twilio\'s recognizer');
        this.fallBack();
      }
    });
  }

  /** The welcome the engine queued when the call came in, after the clinic's greeting. */
  private async greet(): Promise<void> {
    const replies = await claimSpokenReplies(this.deps.db.knex, this.scope, this.conversationId, this.call.call_sid, this.deps.clock.now());
    await this.speakReplies(replies, { key: 'voice_greeting' });
  }

  /** An utterance: heard by the speech to text, then answered; what cannot be heard is asked again. */
  private async hear(samples: Int16Array): Promise<void> {
    const started = Date.now();
    const heard = await this.deps.transcriber.transcribe(
      { bytes: pcm16ToWav(samples, PHONE_SAMPLE_RATE), fileName: 'caller.wav', mimeType: 'audio/wav' }, this.langKnown ? this.lang : null, this.hints || undefined,
    );
    this.deps.logger.debug({ call_sid: this.call.call_sid, heard: Boolean(heard), audio_ms: Math.round((samples.length / PHONE_SAMPLE_RATE) * 1000), ms: Date.now() - started }, 'voice stream: utterance transcribed');
    this.stats.utterances += 1;
    if (!heard) {
      this.stats.notHeard += 1;
      this.unheard += 1;
      if (this.unheard >= MAX_UNHEARD) return this.fallBack();
      return this.repeatLastReply('voice_not_heard');
    }
    this.unheard = 0;
    await this.answer(heard.text);
  }

  /** The caller's words (or keys) are their message to the engine; its replies are spoken. */
  private async answer(text: string): Promise<void> {
    this.silentPrompts = 0;
    this.turn += 1;
    const now = this.deps.clock.now();
    const stored = await this.deps.onInbound({
      organizationId: this.scope.organizationId, channel: 'voice', from: this.call.from_number, providerMessageId: `${this.call.call_sid}:${this.turn}`, text, receivedAt: now,
    });
    this.conversationId = stored.conversationId;
    if (!stored.duplicate) await recordCallTurn(this.deps.db.knex, this.scope, this.call.id, { conversationId: stored.conversationId, turn: true, now });
    // The caller hung up during the turn: the replies stay queued, and the call's end fails them (nobody heard them).
    if (this.state === 'ended') return;
    const replies = await claimSpokenReplies(this.deps.db.knex, this.scope, this.conversationId, this.call.call_sid, this.deps.clock.now());
    await this.speakReplies(replies);
  }

  /** Nothing said for a while: the bot asks again, twice, then says goodbye. */
  private async askAgain(): Promise<void> {
    this.silentPrompts += 1;
    if (this.silentPrompts > MAX_SILENT_PROMPTS) {
      await this.loadConversation();
      return this.speak([{ text: this.deps.say(this.lang, 'voice_goodbye'), shared: true }], 'goodbye');
    }
    await this.repeatLastReply('voice_no_input');
  }

  private async repeatLastReply(key: 'voice_no_input' | 'voice_not_heard'): Promise<void> {
    const last = await lastAssistantReply(this.deps.db.knex, this.scope, this.conversationId);
    await this.speakReplies(last ? [last] : [], { key });
  }

  private async loadConversation(): Promise<{ status: string | null; transferTo: string | null; clinic: string }> {
    const [conversation, organization] = await Promise.all([
      Conversation.query(this.deps.db.knex).findOne({ id: this.conversationId, organization_id: this.scope.organizationId }),
      getOrganization(this.deps.db.knex, this.scope.organizationId),
    ]);
    const settings = orgSettings(organization);
    this.lang = asVoiceLang(conversation?.language ?? settings.default_language);
    this.langKnown = Boolean(conversation?.patient_id) || this.turn > this.call.turns;
    return { status: conversation?.status ?? null, transferTo: settings.voice_transfer_number ?? null, clinic: organization.name };
  }

  /** The replies as speech (after an opening line), then what follows them: listen, put through, or goodbye. */
  private async speakReplies(replies: SpokenReply[], opening?: { key: 'voice_greeting' | 'voice_no_input' | 'voice_not_heard' }): Promise<void> {
    const conversation = await this.loadConversation();
    const then = callNext(conversation.status, replies, conversation.transferTo);
    const lines: Line[] = [
      ...(opening ? [{ text: this.deps.say(this.lang, opening.key, { clinic: conversation.clinic }), shared: true }] : []),
      ...replies.flatMap((r) => spokenLines(this.deps.say, this.lang, r).map((text, i) => ({ text, shared: i > 0 }))),
    ];
    if (then !== 'listen') lines.push({ text: this.deps.say(this.lang, closingKey(then)), shared: true });
    if (then === 'listen') this.hints = await speechHints(this.deps.db.knex, this.scope, replies);
    await this.speak(lines, then);
  }

  /**
   * Speaks the lines, each sent as it streams in from the speech service (all
   * are asked for at once), then a mark: Twilio returns it when the caller
   * has heard them (played), or when the caller spoke over them (cleared, ignored).
   */
  private async speak(lines: Line[], then: CallNext): Promise<void> {
    this.after = then;
    if (lines.length === 0) return this.played();
    this.state = 'speaking';
    const { speaker, speech } = this.deps;
    const audio = lines.map((line) => (line.shared ? LineAudio.shared(speech, speaker, line.text) : LineAudio.spoken(speaker, line.text)));
    for (const line of audio) {
      for await (const bytes of line.read()) {
        // The caller spoke over the bot, or hung up: the rest is not said.
        if (this.state !== 'speaking') return;
        for (let at = 0; at < bytes.length; at += SEND_CHUNK_BYTES) {
          this.send({ event: 'media', streamSid: this.streamSid, media: { payload: bytes.subarray(at, at + SEND_CHUNK_BYTES).toString('base64') } });
        }
      }
      if (line.failed) return this.fallBack();
    }
    this.pendingMark = `said-${++this.marks}`;
    this.send({ event: 'mark', streamSid: this.streamSid, mark: { name: this.pendingMark } });
  }

  /** What was said has been heard: listen, or end the stream for the <Connect> action to hang up or put the caller through. */
  private played(): void {
    this.pendingMark = null;
    if (this.after === 'listen') {
      this.state = 'listening';
      this.detector.reset();
      return;
    }
    const ending = this.after === 'transfer' ? 'transfer' : 'hangup';
    this.state = 'busy';
    this.queue(async () => {
      await recordStreamEnding(this.deps.db.knex, this.scope, this.call.id, ending, this.deps.clock.now());
      this.ws.close(1000, ending);
    });
  }

  /** Our speech service failed: the stream ends without an ending, and the <Connect> action goes on with a <Gather> (and records it). */
  private fallBack(): void {
    if (this.state === 'ended') return;
    this.deps.logger.warn({ call_sid: this.call.call_sid }, 'voice stream: speech not available; the call goes on with Twilio\'s recognizer');
    this.stats.fallbacks += 1;
    this.state = 'busy';
    this.ws.close(1000, 'fallback');
  }

  private send(message: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  private end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.deps.logger.info({ call_sid: this.call.call_sid, turns: this.turn - this.call.turns }, 'voice stream: ended');
  }
}
