/** GET /system/encryption/status (Mark Assistant's fields, and the key ring's progress after a rotation). */
import { z } from 'zod';
import type { EncryptionStatus, SealedCounts } from '../../models/encryption.js';

const sealedCountsSchema = z.object({ total: z.number().int(), encrypted: z.number().int(), under_primary_key: z.number().int(), plaintext: z.number().int() });

const presentCounts = (c: SealedCounts) => ({ total: c.total, encrypted: c.encrypted, under_primary_key: c.underPrimaryKey, plaintext: c.total - c.encrypted });

export const encryptionStatusSchema = z.object({
  enabled: z.boolean().describe('Message content is sealed at rest (ENCRYPTION_KEYS is set)'),
  algorithm: z.string().nullable(),
  primary_key_id: z.string().nullable().describe('The key new content is sealed with (the first of ENCRYPTION_KEYS)'),
  key_ids: z.array(z.string()).describe('Every configured key, the primary first; never the keys themselves'),
  key_rotation_days: z.number().int(),
  last_rotation: z.string().nullable().describe('When the primary key first sealed'),
  next_rotation: z.string().nullable().describe('When a new primary key is due'),
  rotation_complete: z.boolean().describe('Every message and ticket comment of the organization is sealed under the primary key: older keys may be removed'),
  encrypted_conversations: z.number().int().describe('Conversations with messages, all of them sealed'),
  encrypted_patients: z.number().int().describe('Patients with messages, all of them sealed'),
  messages: sealedCountsSchema,
  ticket_comments: sealedCountsSchema,
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
    rotation_complete: s.enabled && s.messages.underPrimaryKey === s.messages.total && s.ticketComments.underPrimaryKey === s.ticketComments.total,
    encrypted_conversations: s.encryptedConversations,
    encrypted_patients: s.encryptedPatients,
    messages: presentCounts(s.messages),
    ticket_comments: presentCounts(s.ticketComments),
  };
}
