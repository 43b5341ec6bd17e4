/**
 * The shape of an inbound message once a channel adapter has normalized it,
 * shared by channels/ (which produce it) and bot/ (which consumes it), so
 * neither imports the other.
 */
import { storableText } from './storableText.js';

export type ChannelName = 'webchat' | 'sms' | 'whatsapp' | 'telegram' | 'voice';

/** A provider payload normalized at the edge. */
export interface InboundMessage {
  organizationId: string;
  channel: ChannelName;
  /** The sender's address on the channel: E.164 phone, chat id, web chat session id. */
  from: string;
  /** The provider's id, unique per channel: redeliveries of the same id are stored and answered once. */
  providerMessageId: string | null;
  /** Client-chosen id (web chat), unique per conversation. */
  clientMessageId?: string | null;
  text: string;
  media?: { url: string; contentType: string }[];
  receivedAt: Date;
  /** Display name the provider knows (WhatsApp push name, Telegram first name). */
  profileName?: string | null;
  /**
   * The language the sender's app is set to, as the provider tells it (a BCP 47
   * tag: Telegram's language_code, "es" or "en-GB"): the engine speaks it to a
   * sender it knows nothing about when it is one of the bot's languages.
   */
  languageHint?: string | null;
  /** Web chat: the conversation the session is bound to. */
  conversationId?: string | null;
  /**
   * Called once the message is stored, before the turn plays: the web chat
   * acknowledges it then (and shows "typing" when the bot is going to answer).
   */
  onStored?: (stored: StoredInbound) => void;
}

/** What onStored learns: the stored message, and whether the bot answers it (a new message of a conversation the bot holds). */
export interface StoredInbound extends InboundResult {
  botAnswers: boolean;
}

export interface InboundResult {
  messageId: string;
  conversationId: string;
  duplicate: boolean;
}

export type OnInbound = (msg: InboundMessage) => Promise<InboundResult>;

function storable<T extends string | null | undefined>(value: T): T {
  return (typeof value === 'string' ? storableText(value) : value) as T;
}

/**
 * The message as it can be stored: U+0000 dropped from what the provider or
 * the visitor sent (text, ids, name, language, media), and a lone surrogate
 * replaced. Rejecting it is not an option: the patient could not resend a
 * message a provider keeps redelivering.
 */
export function storableInbound(msg: InboundMessage): InboundMessage {
  const { text, from, providerMessageId, clientMessageId, profileName, languageHint, media } = msg;
  return {
    ...msg,
    text: storable(text), from: storable(from), providerMessageId: storable(providerMessageId), clientMessageId: storable(clientMessageId),
    profileName: storable(profileName), languageHint: storable(languageHint),
    media: media?.map((m) => ({ url: storable(m.url), contentType: storable(m.contentType) })),
  };
}

/** The audio of a voice note (an audio file sent without words: a WhatsApp or Telegram voice note, a recorded MMS), or null. */
export function voiceNoteAudio(msg: Pick<InboundMessage, 'text' | 'media'>): { url: string; contentType: string } | null {
  if (msg.text.trim() !== '') return null;
  return msg.media?.find((m) => /^audio\//i.test(m.contentType)) ?? null;
}

/** A voice note downloaded from its provider: the audio, and its words when speech to text is configured and heard them. */
export interface HeardVoiceNote { audio: Buffer; contentType: string; words: string | null }

/** Fetches (and hears) a voice note, or null when its channel cannot fetch it (EngineOptions.hearVoiceNote). */
export type HearVoiceNote = (msg: InboundMessage) => Promise<HeardVoiceNote | null>;
