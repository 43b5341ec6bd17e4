/**
 * The one small interface every channel adapter implements (grammY-style
 * adapters, Chatwoot-style normalization at the edge). The engine only ever
 * sees an InboundMessage; the dispatcher only ever calls `send`.
 */
import type Router from '@koa/router';
import type { ChannelName } from '../lib/inbound.js';

export type { ChannelName, InboundMessage, InboundResult, OnInbound } from '../lib/inbound.js';

export interface ChannelCapabilities {
  /** Can show tappable options; otherwise options are rendered as a numbered list. */
  buttons: boolean;
  /** Can carry an audio file (OutboundMessage.media): POST /messages/voice refuses a channel without it. */
  media: boolean;
  /** Longest text the provider accepts in one message; longer text is split. */
  maxTextLength: number;
}

import type { AudioFormat } from '../models/mediaFiles.js';

/** The audio formats a voice message may have (POST /messages/voice). */
export type { AudioFormat };

/**
 * An audio file sent as a message: the provider (or the visitor's browser)
 * fetches it from `url`, a capability URL served by GET /media/:id/:token.
 */
export interface OutboundMedia {
  kind: 'audio';
  /** Absolute where PUBLIC_URL is set; a path (`/media/...`) otherwise, which only web chat can use. */
  url: string;
  format: AudioFormat;
  /** audio/mpeg, audio/ogg or audio/wav. */
  mimeType: string;
  /** Whole seconds, rounded; null when the file does not tell. */
  durationSeconds: number | null;
  /** What a file-like message is called where the channel shows a name (voice-message.mp3). */
  fileName: string;
}

export interface OutboundMessage {
  id: string;
  organizationId: string;
  channel: ChannelName;
  to: string;
  text: string;
  options: { value: string; label: string }[] | null;
  conversationId: string | null;
  sender: 'assistant' | 'staff' | 'system';
  createdAt: Date;
  /** Which part of the stored message this is (0-based): the dispatcher splits a text longer than the channel allows. */
  part?: number;
  /**
   * The message asks for the recipient's phone number: a channel with a
   * share-my-number control offers it with this label (Telegram: a contact
   * keyboard); others ignore it, the text asks too. On the last part only.
   */
  asksPhone?: { label: string } | null;
  /** The phone question was answered: a channel that showed its share-my-number control removes it. On the last part only. */
  closesPhoneAsk?: boolean;
  /** A voice message: the audio to send (`text` is then empty, or a caption where the channel has one). */
  media?: OutboundMedia | null;
}

export interface SendResult {
  providerMessageId: string | null;
  /** Some channels (web chat) know at once that the message reached the device. */
  status?: 'sent' | 'delivered';
}

/**
 * The provider answered and refused (bad number, blocked): retrying will not
 * help unless `retryable`; `retryAfterMs` is the provider's own wait before a
 * retry (a rate limit's retry_after), which the dispatcher never undercuts.
 */
export class ProviderRefusedError extends Error {
  constructor(message: string, readonly code: string, readonly retryable = false, readonly payload: unknown = null, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** We could not reach the provider (network, timeout, 5xx): retry with backoff. */
export class ProviderUnreachableError extends Error {}

/** Why an inbound media could not be fetched: the engine may tell a patient their voice note was too long. */
export type MediaFetchReason = 'too_large' | 'refused' | 'unreachable' | 'not_ours';

/** One of a channel's inbound media could not be fetched (ChannelAdapter.fetchMedia). */
export class MediaFetchError extends Error {
  constructor(message: string, readonly reason: MediaFetchReason = 'unreachable') {
    super(message);
  }
}

export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed' | 'undelivered';

/** Delivery and read receipts, normalized. */
export interface StatusUpdate {
  channel: ChannelName;
  providerMessageId: string;
  status: DeliveryStatus;
  errorCode?: string | null;
  at: Date;
}

export type OnStatus = (update: StatusUpdate) => Promise<void>;

export interface ChannelHealth {
  name: ChannelName;
  enabled: boolean;
  status: 'up' | 'down' | 'off';
  detail?: string;
}

export interface ChannelAdapter {
  readonly name: ChannelName;
  readonly capabilities: ChannelCapabilities;
  /** False when credentials are missing: the channel is off and says so. */
  readonly enabled: boolean;
  /** False: the channel's replies go out another way (voice: spoken in the call's TwiML) and the dispatcher never claims them. */
  readonly dispatched?: boolean;
  /** Sends per second this channel may make (the dispatcher paces to it); undefined = unpaced. */
  readonly ratePerSecond?: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  send(msg: OutboundMessage): Promise<SendResult>;
  /**
   * Optional: looks `msg` up at the provider. The dispatcher asks before a
   * retry, because the attempt before may have reached the provider without
   * being recorded (a crash or a timeout); found means recorded, not resent.
   */
  findSent?(msg: OutboundMessage): Promise<SendResult | null>;
  /** Optional: the bytes of one of this channel's inbound media (InboundMessage.media[i]), for transcribing a patient's voice note. Rejects (MediaFetchError) when the provider refuses, the file is larger than maxBytes, or it cannot be reached within timeoutMs. */
  fetchMedia?(media: { url: string; contentType: string }, opts: { maxBytes: number; timeoutMs: number }): Promise<{ bytes: Buffer; contentType: string }>;
  /** Provider webhooks, mounted by main.ts under /api/v1. */
  router?: Router;
  health(): ChannelHealth;
}
