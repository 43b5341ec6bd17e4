/**
 * Audio files of voice messages (POST /messages/voice) and of patients' voice
 * notes, kept for staff to hear (keepVoiceNote). The bytes are sealed
 * at rest like message content (as base64 inside the sealed text, so the
 * re-sealing after a key rotation and the encryption status cover them as a
 * sealed column), with the transcription beside them. A provider or a web
 * chat visitor fetches a file by its capability URL (mediaPath): the token in
 * it is the authority, so only its SHA-256 is kept, and a file is served only
 * while its conversation is not deleted.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db, OrgScope } from './base.js';
import { newId } from '../lib/ids.js';
import { UNREADABLE } from '../lib/encryption.js';
import { openText, sealText } from './encryption.js';
import { withTransaction } from './messages.js';

import type { AudioFacts, AudioFormat } from '../lib/audio.js';

export type { AudioFormat };

export const AUDIO_MIME_TYPES: Readonly<Record<AudioFormat, string>> = { mp3: 'audio/mpeg', ogg: 'audio/ogg', wav: 'audio/wav' };

/** What metadata.media of a voice message holds (snake_case, as stored). */
export interface StoredMedia {
  id: string;
  url: string;
  format: AudioFormat;
  mime_type: string;
  duration_seconds: number | null;
  size_bytes: number;
  file_name: string;
}

const FORMATS: readonly string[] = Object.keys(AUDIO_MIME_TYPES);

/** The audio a stored message carries (metadata.media), or null when none (or not in a shape this code wrote). */
export function storedMediaOf(metadata: Record<string, unknown> | null | undefined): StoredMedia | null {
  const m = metadata?.media as Partial<StoredMedia> | undefined;
  if (!m || typeof m !== 'object' || typeof m.url !== 'string' || !FORMATS.includes(m.format as string)) return null;
  return {
    id: typeof m.id === 'string' ? m.id : '',
    url: m.url,
    format: m.format as AudioFormat,
    mime_type: typeof m.mime_type === 'string' ? m.mime_type : AUDIO_MIME_TYPES[m.format as AudioFormat],
    duration_seconds: typeof m.duration_seconds === 'number' ? m.duration_seconds : null,
    size_bytes: typeof m.size_bytes === 'number' ? m.size_bytes : 0,
    file_name: typeof m.file_name === 'string' ? m.file_name : `voice-message.${m.format}`,
  };
}

/** A reserved file: its id and token are known before the message that carries its URL is stored. */
export interface MediaFileRef { id: string; token: string; format: AudioFormat }

export interface MediaFileInput {
  patientId: string | null;
  conversationId: string;
  messageId: string;
  bytes: Buffer;
  durationMs: number | null;
  transcription: string | null;
  transcriptionLanguage: string | null;
  now: Date;
}

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A new file's id and capability token (256 random bits). */
export function reserveMediaFile(format: AudioFormat): MediaFileRef {
  return { id: newId('media'), token: randomBytes(32).toString('base64url'), format };
}

/** Where the file is served, relative to the service's origin (GET /media/:org/:id/:token). */
export function mediaPath(scope: OrgScope, ref: MediaFileRef): string {
  return `/media/${scope.organizationId}/${ref.id}/${ref.token}.${ref.format}`;
}

/** Stores a reserved file, sealed, in the transaction that stores its message. */
export async function storeMediaFile(db: Db, scope: OrgScope, ref: MediaFileRef, input: MediaFileInput): Promise<void> {
  await (db as Knex)('media_files').insert({
    id: ref.id,
    organization_id: scope.organizationId,
    patient_id: input.patientId,
    conversation_id: input.conversationId,
    message_id: input.messageId,
    format: ref.format,
    mime_type: AUDIO_MIME_TYPES[ref.format],
    byte_size: input.bytes.length,
    duration_ms: input.durationMs,
    token_hash: hashOf(ref.token),
    data: sealText(db, input.bytes.toString('base64')),
    transcription: input.transcription === null ? null : sealText(db, input.transcription),
    transcription_language: input.transcriptionLanguage,
    created_at: input.now,
  });
}

/** A kept file as a message's metadata.media shows it: `baseUrl` (PUBLIC_URL, or nothing) makes its address absolute. */
export function storedMedia(scope: OrgScope, ref: MediaFileRef, input: { facts: AudioFacts; sizeBytes: number; fileName: string; baseUrl: string }): StoredMedia {
  return {
    id: ref.id, url: `${input.baseUrl.replace(/\/+$/, '')}${mediaPath(scope, ref)}`, format: ref.format, mime_type: AUDIO_MIME_TYPES[ref.format],
    duration_seconds: input.facts.durationMs === null ? null : Math.round(input.facts.durationMs / 1000), size_bytes: input.sizeBytes, file_name: input.fileName,
  };
}

/**
 * Keeps a patient's voice note for staff to hear: the file, sealed, with its
 * words as its transcription when they were heard. The message becomes a
 * voice message: its metadata.media is the kept file (what the provider
 * named moves to provider_media), and its content the words, or the file's
 * URL when nothing was heard. Null when the message is not an inbound one of
 * a conversation (nothing is kept).
 */
export async function keepVoiceNote(db: Db, scope: OrgScope, messageId: string, input: { bytes: Buffer; facts: AudioFacts; words: string | null; baseUrl: string; now: Date }): Promise<StoredMedia | null> {
  return withTransaction(db, async (trx) => {
    const message = (await trx('messages').where({ id: messageId, organization_id: scope.organizationId, direction: 'inbound' }).forUpdate()
      .first('conversation_id', 'patient_id', 'metadata')) as { conversation_id: string | null; patient_id: string | null; metadata: Record<string, unknown> | null } | undefined;
    if (!message?.conversation_id) return null;
    const ref = reserveMediaFile(input.facts.format);
    await storeMediaFile(trx, scope, ref, {
      patientId: message.patient_id, conversationId: message.conversation_id, messageId, bytes: input.bytes, durationMs: input.facts.durationMs,
      transcription: input.words, transcriptionLanguage: null, now: input.now,
    });
    const media = storedMedia(scope, ref, { facts: input.facts, sizeBytes: input.bytes.length, fileName: `voice-note.${ref.format}`, baseUrl: input.baseUrl });
    const { media: providerMedia, ...rest } = message.metadata ?? {};
    await trx('messages').where({ id: messageId, organization_id: scope.organizationId }).update({
      content: sealText(trx, input.words ?? media.url), content_type: 'voice', updated_at: input.now,
      metadata: JSON.stringify({ ...rest, media, provider_media: providerMedia ?? null, ...(input.words ? { transcribed: true } : {}) }),
    });
    return media;
  });
}

export interface ServedMediaFile { bytes: Buffer; mimeType: string; format: AudioFormat }

/**
 * The file behind a capability URL, or null (unknown id, wrong token, deleted
 * conversation, or bytes no configured key opens): the caller answers 404 to all.
 */
export async function readServedMediaFile(db: Db, scope: OrgScope, id: string, token: string): Promise<ServedMediaFile | null> {
  const row = (await (db as Knex)('media_files as m')
    .join('conversations as c', function joinLive() {
      this.on('c.id', '=', 'm.conversation_id').andOn('c.organization_id', '=', 'm.organization_id');
    })
    .whereNull('c.deleted_at')
    .where({ 'm.id': id, 'm.organization_id': scope.organizationId })
    .first('m.token_hash', 'm.data', 'm.mime_type', 'm.format')) as { token_hash: string; data: string; mime_type: string; format: AudioFormat } | undefined;
  if (!row) return null;
  const given = Buffer.from(hashOf(token), 'hex');
  const kept = Buffer.from(row.token_hash, 'hex');
  if (given.length !== kept.length || !timingSafeEqual(given, kept)) return null;
  const encoded = openText(db, row.data);
  if (encoded === UNREADABLE) return null;
  return { bytes: Buffer.from(encoded, 'base64'), mimeType: row.mime_type, format: row.format };
}

/** The opened transcription of each voice message read with attachTranscriptions (or noted by its sender). */
const transcriptions = new WeakMap<object, string | null>();

/** A voice message's transcription, when attachTranscriptions (or noteTranscription) gave it one; null otherwise. */
export function transcriptionOf(message: object): string | null {
  return transcriptions.get(message) ?? null;
}

/** Notes a voice message's transcription on the message just stored (its sender has it in hand). */
export function noteTranscription(message: object, text: string | null): void {
  transcriptions.set(message, text);
}

/**
 * Reads the transcriptions of `messages`' voice messages (one statement),
 * opened, for presenting and exporting them (transcriptionOf).
 */
export async function attachTranscriptions<M extends { content_type: string; metadata: Record<string, unknown> | null }>(db: Db, scope: OrgScope, messages: readonly M[]): Promise<void> {
  const voice = messages.map((m) => ({ m, id: m.content_type === 'voice' ? storedMediaOf(m.metadata)?.id : undefined })).filter((v): v is { m: M; id: string } => Boolean(v.id));
  if (voice.length === 0) return;
  const rows = (await (db as Knex)('media_files').where('organization_id', scope.organizationId).whereIn('id', [...new Set(voice.map((v) => v.id))])
    .select('id', 'transcription')) as { id: string; transcription: string | null }[];
  const byId = new Map(rows.map((r) => [r.id, r.transcription === null ? null : openText(db, r.transcription)]));
  for (const { m, id } of voice) transcriptions.set(m, byId.get(id) ?? null);
}
