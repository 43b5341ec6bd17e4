/** GET /system/encryption/status (Mark Assistant's fields, and the key ring's progress after a rotation). */
import { z } from 'zod';
import type { EncryptionStatus, SealedCounts, SealedValueName } from '../../models/encryption.js';

const sealedCountsSchema = z.object({ total: z.number().int(), encrypted: z.number().int(), under_primary_key: z.number().int(), plaintext: z.number().int() });

const presentCounts = (c: SealedCounts) => ({ total: c.total, encrypted: c.encrypted, under_primary_key: c.underPrimaryKey, plaintext: c.total - c.encrypted });

/** The API's name for each sealed column's counts. */
const COUNT_FIELDS = {
  messages: 'messages.content',
  ticket_comments: 'ticket_comments.content',
  ticket_descriptions: 'tickets.description',
  ticket_resolutions: 'tickets.resolution',
  patient_notes: 'patients.notes',
  appointment_notes: 'appointments.notes',
  appointment_reasons: 'appointments.reason',
  event_resolutions: 'events.resolution',
  voice_messages: 'media_files.data',
  voice_transcriptions: 'media_files.transcription',
} as const satisfies Record<string, SealedValueName>;

export const encryptionStatusSchema = z.object({
  enabled: z.boolean().describe('Free text about patients (messages, ticket comments, descriptions and resolutions, notes, reasons, voice messages and their transcriptions) is sealed at rest (ENCRYPTION_KEYS is set)'),
  algorithm: z.string().nullable(),
  primary_key_id: z.string().nullable().describe('The key new content is sealed with (the first of ENCRYPTION_KEYS)'),
  key_ids: z.array(z.string()).describe('Every configured key, the primary first; never the keys themselves'),
  key_rotation_days: z.number().int(),
  last_rotation: z.string().nullable().describe('When the primary key first sealed'),
  next_rotation: z.string().nullable().describe('When a new primary key is due'),
  rotation_complete: z.boolean().describe('Every sealed value of the organization (messages, ticket comments, descriptions and resolutions, notes, reasons, voice messages and their transcriptions, and the resolutions in ticket.resolved events) is under the primary key: older keys may be removed'),
  encrypted_conversations: z.number().int().describe('Conversations with messages, all of them sealed'),
  encrypted_patients: z.number().int().describe('Patients with messages, all of them sealed'),
  messages: sealedCountsSchema,
  ticket_comments: sealedCountsSchema,
  ticket_descriptions: sealedCountsSchema,
  ticket_resolutions: sealedCountsSchema,
  patient_notes: sealedCountsSchema,
  appointment_notes: sealedCountsSchema,
  appointment_reasons: sealedCountsSchema.describe('The free-text reason of appointments'),
  event_resolutions: sealedCountsSchema.describe('Resolutions carried by ticket.resolved events (kept for webhook redelivery)'),
  voice_messages: sealedCountsSchema.describe('The audio files of voice messages (POST /messages/voice)'),
  voice_transcriptions: sealedCountsSchema.describe('The transcriptions of voice messages'),
});

export function presentEncryptionStatus(s: EncryptionStatus, rotationDays: number): z.infer<typeof encryptionStatusSchema> {
  const next = s.lastRotation ? new Date(s.lastRotation.getTime() + rotationDays * 86_400_000) : null;
  return {
    enabled: s.enabled,
    algorithm: s.enabled ? 'aes-256-gcm' : null,
    primary_key_id: s.primaryKeyId,
    key_ids: s.keyIds,
    key_rotation_days: rotationDays,
    last_rotation: s.lastRotation?.toISOString() ?? null,
    next_rotation: next?.toISOString() ?? null,
    rotation_complete: s.enabled && Object.values(s.columns).every((c) => c.underPrimaryKey === c.total),
    encrypted_conversations: s.encryptedConversations,
    encrypted_patients: s.encryptedPatients,
    ...(Object.fromEntries(Object.entries(COUNT_FIELDS).map(([field, column]) => [field, presentCounts(s.columns[column])])) as Record<keyof typeof COUNT_FIELDS, ReturnType<typeof presentCounts>>),
  };
}
