/**
 * What a call says, however it is heard (a <Gather> in TwiML, or our own
 * speech over the Media Stream): the bot's replies as sentences with their
 * options read out, the words the recognizer should expect, and what follows
 * the replies (listen, put the caller through, or end the call).
 */
import type twilio from 'twilio';
import type { Knex } from 'knex';
import type { OrgScope } from '../../models/base.js';
import type { SpokenReply } from '../../models/calls.js';

export type VoiceLang = 'en' | 'es' | 'ca' | 'hi';
export type VoiceReplyKey = 'voice_greeting' | 'voice_option' | 'voice_no_input' | 'voice_not_heard' | 'voice_goodbye' | 'voice_transfer' | 'voice_callback';
/** A voice line of the bot's catalog. */
export type SayLine = (lang: VoiceLang, key: VoiceReplyKey, params?: Record<string, string | number>) => string;

/** The speech recognizer's and the voice's locale for each of the bot's languages. */
type Twiml = InstanceType<typeof twilio.twiml.VoiceResponse>;
type Locale = NonNullable<NonNullable<Parameters<Twiml['say']>[0]>['language']> & NonNullable<NonNullable<Parameters<Twiml['gather']>[0]>['language']>;
export const LOCALES: Record<VoiceLang, Locale> = { en: 'en-GB', es: 'es-ES', ca: 'ca-ES', hi: 'hi-IN' };
export const asVoiceLang = (v: string | null | undefined): VoiceLang => (v && v in LOCALES ? (v as VoiceLang) : 'en');
/** Prompts in a row with nothing heard after which the call is ended. */
export const MAX_SILENT_PROMPTS = 2;
/** Replies after which the call ends: the caller is told to dial an emergency number, opted out, or said goodbye. */
const ENDING_REPLIES = new Set(['emergency', 'emergency_ticket', 'opted_out', 'thanks_bye']);

/** After the replies: listen for the caller, put them through to staff, say the clinic will call back, or say goodbye. */
export type CallNext = 'listen' | 'transfer' | 'callback' | 'goodbye';

export function callNext(conversationStatus: string | null | undefined, replies: SpokenReply[], transferNumber: string | null | undefined): CallNext {
  const ends = replies.some((r) => r.replyKey && ENDING_REPLIES.has(r.replyKey));
  if (ends) return 'goodbye';
  if (conversationStatus === 'handoff') return transferNumber ? 'transfer' : 'callback';
  return conversationStatus === 'closed' ? 'goodbye' : 'listen';
}

/** The last words before the call ends or is put through. */
export function closingKey(then: Exclude<CallNext, 'listen'>): VoiceReplyKey {
  return then === 'transfer' ? 'voice_transfer' : then === 'callback' ? 'voice_callback' : 'voice_goodbye';
}

/** A reply as speech: its text, then each option with its key ("For Cardiology, say it or press 2."). */
export function spokenLines(say: SayLine, lang: VoiceLang, reply: SpokenReply): string[] {
  const options = (reply.options ?? []).map((o) => say(lang, 'voice_option', { label: o.label, number: o.value }));
  // Lines become sentences ("booked:\nWednesday..." is read "booked: Wednesday...").
  const text = reply.content.replace(/([.:!?])?[ \t]*\n+\s*/g, (_, end: string | undefined) => (end ? `${end} ` : '. '));
  return [text, ...options];
}

/**
 * Words the recognizer should expect (Twilio's `hints`, the transcriber's
 * prompt): the clinic's doctors and specialties, and the options just read
 * out, so "Doctor Vives" or "cardiología" are heard as written. At most 100.
 */
export async function speechHints(knex: Knex, scope: OrgScope, replies: SpokenReply[]): Promise<string> {
  const doctors = (await knex('doctors').where({ organization_id: scope.organizationId, active: true }).whereNull('deleted_at')
    .select('name', 'specialization')) as { name: string; specialization: string }[];
  const words = [...replies.flatMap((r) => (r.options ?? []).map((o) => o.label)), ...doctors.flatMap((d) => [d.name, d.specialization])]
    .map((w) => w.replace(/,/g, ' ').trim().slice(0, 100)).filter(Boolean);
  return [...new Set(words)].slice(0, 100).join(', ');
}
