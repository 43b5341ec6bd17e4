/**
 * The web chat wire protocol: JSON text frames in both directions. Client
 * frames are validated here; server frames are built here, so the shapes live
 * in one place (the widget in public/widget/carechat.js speaks the same).
 */
import { z } from 'zod';
import type { AudioFormat, OutboundMedia } from '../types.js';

export const MAX_TEXT_LENGTH = 2000;
export const MAX_CLIENT_ID_LENGTH = 100;
/** Largest frame accepted from a visitor (bytes); ws closes with 1009 above it. */
export const MAX_FRAME_BYTES = 16 * 1024;

const clientMessageFrame = z.object({
  type: z.literal('message'),
  id: z.string().trim().min(1).max(MAX_CLIENT_ID_LENGTH),
  text: z.string().max(MAX_TEXT_LENGTH),
});

export type ClientMessageFrame = z.infer<typeof clientMessageFrame>;

export type ClientFrame = ClientMessageFrame | { type: 'ping' };

export interface MessageFrame {
  type: 'message';
  id: string;
  sender: 'assistant' | 'staff';
  text: string;
  options: { value: string; label: string }[];
  created_at: string;
  /** A voice message's audio (present only then): `url` may be a path, which the widget resolves against its server. */
  audio?: AudioFrame;
}

export interface AudioFrame {
  url: string;
  format: AudioFormat;
  duration_seconds: number | null;
}

export type ServerFrame =
  | { type: 'session'; session_token: string; conversation_id: string }
  | { type: 'ack'; id: string; message_id: string }
  | { type: 'typing' }
  | { type: 'pong' }
  | MessageFrame
  | { type: 'error'; code: ErrorCode; message: string; id?: string };

export type ErrorCode = 'invalid_json' | 'invalid_frame' | 'unknown_type' | 'text_too_long' | 'empty_text' | 'rate_limited' | 'internal_error';

export type ParsedFrame = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; id?: string };

/** Parses one text frame; never throws. */
export function parseClientFrame(raw: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'invalid_json', message: 'Frames must be JSON objects.' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_frame', message: 'Frames must be JSON objects.' };
  }
  const type = (value as { type?: unknown }).type;
  const rawId = (value as { id?: unknown }).id;
  const id = typeof rawId === 'string' && rawId.length <= MAX_CLIENT_ID_LENGTH ? rawId : undefined;
  if (type === 'ping') return { ok: true, frame: { type: 'ping' } };
  if (type !== 'message') return { ok: false, code: 'unknown_type', message: 'Unknown frame type; expected "message".', id };
  const text = (value as { text?: unknown }).text;
  if (typeof text === 'string' && text.length > MAX_TEXT_LENGTH) {
    return { ok: false, code: 'text_too_long', message: `Messages are at most ${MAX_TEXT_LENGTH} characters.`, id };
  }
  const parsed = clientMessageFrame.safeParse(value);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') || 'frame';
    return { ok: false, code: 'invalid_frame', message: `Invalid "${field}": a message frame is {"type":"message","id":"…","text":"…"}.`, id };
  }
  if (parsed.data.text.trim() === '') return { ok: false, code: 'empty_text', message: 'The message is empty.', id };
  return { ok: true, frame: { ...parsed.data, text: parsed.data.text.trim() } };
}

export interface FrameSource {
  id: string;
  sender: string;
  text: string;
  options: { value: string; label: string }[] | null;
  createdAt: Date;
  media?: OutboundMedia | null;
}

export function messageFrame(row: FrameSource): MessageFrame {
  return {
    type: 'message',
    id: row.id,
    sender: row.sender === 'staff' ? 'staff' : 'assistant',
    text: row.media ? captionOf(row.text, row.media) : row.text,
    options: (row.options ?? []).map((o) => ({ value: String(o.value), label: String(o.label) })),
    created_at: new Date(row.createdAt).toISOString(),
    ...(row.media ? { audio: audioFrame(row.media) } : {}),
  };
}

function audioFrame(media: OutboundMedia): AudioFrame {
  return { url: media.url, format: media.format, duration_seconds: media.durationSeconds };
}

/** A stored voice message's content is its URL: that is never shown as a caption. */
function captionOf(text: string, media: OutboundMedia): string {
  return text.trim() === media.url ? '' : text;
}
