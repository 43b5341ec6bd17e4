/** What leaves the API about a message: a whitelist (never addresses, attempts or provider internals). */
import { z } from 'zod';
import type { Message } from '../../models/messages.js';
import { iso } from './patients.js';
import { visibleStatus } from '../../models/outbox.js';
import { storedMediaOf, transcriptionOf } from '../../models/mediaFiles.js';

export const messageSchema = z.object({
  id: z.string(),
  conversation_id: z.string().nullable(),
  patient_id: z.string().nullable(),
  timestamp: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  sender: z.enum(['patient', 'assistant', 'staff', 'system']),
  sender_user_id: z.string().nullable(),
  content: z.string(),
  content_type: z.string(),
  status: z.enum(['received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled']),
  channel: z.string(),
  options: z.array(z.object({ value: z.string(), label: z.string() })).nullable(),
  /** Why a send failed or was skipped (e.g. opted_out), for staff to see. */
  error: z.string().nullable(),
  sent_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
  read_at: z.string().nullable(),
  /** A voice message's audio (content_type voice): one staff send (`content` is the file's URL), or a patient's voice note (`content` is its words, or the URL when not heard). */
  metadata: z.object({
    url: z.string().describe('Where the audio is served (GET /media/...): no login, the address is the key'),
    duration: z.number().int().nullable().describe('Seconds, rounded'),
    format: z.enum(['mp3', 'ogg', 'wav']),
    size_bytes: z.number().int(),
    transcription: z.string().nullable().describe('What the audio says, when an OpenAI-compatible service transcribed it'),
  }).optional(),
});

export type MessageView = z.infer<typeof messageSchema>;

/** The voice part of a message's view; its transcription when attachTranscriptions read it. */
function voiceMetadata(m: Message): MessageView['metadata'] {
  if (m.content_type !== 'voice') return undefined;
  const media = storedMediaOf(m.metadata);
  if (!media) return undefined;
  return { url: media.url, duration: media.duration_seconds, format: media.format, size_bytes: media.size_bytes, transcription: transcriptionOf(m) };
}

export function presentMessage(m: Message): MessageView {
  const voice = voiceMetadata(m);
  return {
    id: m.id,
    conversation_id: m.conversation_id,
    patient_id: m.patient_id,
    timestamp: iso(m.created_at)!,
    direction: m.direction,
    sender: m.sender,
    sender_user_id: m.sender_user_id,
    content: m.content,
    content_type: m.content_type,
    status: visibleStatus(m),
    channel: m.channel,
    options: m.options ?? null,
    error: m.status === 'failed' || m.status === 'skipped' || m.status === 'queued' ? m.last_error : null,
    sent_at: iso(m.sent_at),
    delivered_at: iso(m.delivered_at),
    read_at: iso(m.read_at),
    ...(voice ? { metadata: voice } : {}),
  };
}
