/** What leaves the API about communications, batches and templates: whitelists, also the OpenAPI schemas. */
import { z } from 'zod';
import { iso } from './patients.js';
import { visibleStatus } from '../../models/outbox.js';
import type { CommunicationRow, BatchView } from '../../models/communications.js';
import type { MessageTemplate } from '../../models/templates.js';

export const communicationSchema = z.object({
  id: z.string(),
  patient_id: z.string().nullable(),
  patient_name: z.string().nullable(),
  conversation_id: z.string().nullable(),
  batch_id: z.string().nullable(),
  template_id: z.string().nullable(),
  channel: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  sender: z.string(),
  sent_by: z.string().nullable().describe('The user who sent it (staff sends)'),
  sent_by_name: z.string().nullable(),
  message: z.string(),
  status: z.string().describe('received, queued, sending, sent, delivered, read, failed, skipped or cancelled'),
  last_error: z.string().nullable().describe('Why it failed or was skipped (opted_out, no_address, ...)'),
  created_at: z.string(),
  sent_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
  read_at: z.string().nullable(),
  failed_at: z.string().nullable(),
});

export function presentCommunication(m: CommunicationRow): z.infer<typeof communicationSchema> {
  const templateId = m.metadata && typeof m.metadata.template_id === 'string' ? m.metadata.template_id : null;
  return {
    id: m.id,
    patient_id: m.patient_id,
    patient_name: m.patient_name,
    conversation_id: m.conversation_id,
    batch_id: m.batch_id,
    template_id: templateId,
    channel: m.channel,
    direction: m.direction,
    sender: m.sender,
    sent_by: m.sender_user_id,
    sent_by_name: m.sender_user_name,
    message: m.content,
    status: visibleStatus(m),
    last_error: m.last_error,
    created_at: iso(m.created_at)!,
    sent_at: iso(m.sent_at),
    delivered_at: iso(m.delivered_at),
    read_at: iso(m.read_at),
    failed_at: iso(m.failed_at),
  };
}

export const batchSchema = z.object({
  id: z.string(),
  batch_id: z.string().describe('Same as id (the PRM spelling)'),
  status: z.enum(['queued', 'processing', 'completed', 'cancelled', 'failed']),
  channel: z.string(),
  template_id: z.string().nullable(),
  total: z.number().int(),
  queued: z.number().int().describe('Waiting or being sent'),
  sent: z.number().int().describe('Accepted by the provider, no receipt yet'),
  delivered: z.number().int().describe('Delivered (or read)'),
  failed: z.number().int(),
  skipped: z.number().int().describe('Never sent: opted out or no address on the channel'),
  cancelled: z.number().int(),
  created_at: z.string(),
  completed_at: z.string().nullable(),
});

export function presentBatch(v: BatchView): z.infer<typeof batchSchema> {
  return {
    id: v.batch.id,
    batch_id: v.batch.id,
    status: v.status,
    channel: v.batch.channel,
    template_id: v.batch.template_id,
    ...v.counts,
    created_at: iso(v.batch.created_at)!,
    completed_at: iso(v.batch.completed_at),
  };
}

export const templateSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  channel: z.string().nullable().describe('null: any channel'),
  category: z.string(),
  bodies: z.record(z.string(), z.string()).describe('One body per language (en, es, ca, hi)'),
  languages: z.array(z.string()),
  variables: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
});

export function presentTemplate(t: MessageTemplate): z.infer<typeof templateSchema> {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    channel: t.channel,
    category: t.category,
    bodies: t.bodies,
    languages: Object.keys(t.bodies).sort(),
    variables: t.variables ?? [],
    created_at: iso(t.created_at)!,
    updated_at: iso(t.updated_at)!,
  };
}
