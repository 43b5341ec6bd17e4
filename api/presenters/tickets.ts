/** What leaves the API about a ticket (PRM shapes): a whitelist. */
import { z } from 'zod';
import type { Ticket, TicketComment, TicketWithComments } from '../../models/tickets.js';
import { TICKET_CATEGORIES, TICKET_PRIORITIES, TICKET_STATUSES } from '../../models/tickets.js';
import { iso } from './patients.js';

export const ticketSchema = z.object({
  id: z.string(),
  number: z.number().int().describe('Sequential per organization'),
  patient_id: z.string().nullable(),
  patient_name: z.string().nullable(),
  conversation_id: z.string().nullable(),
  category: z.enum(TICKET_CATEGORIES),
  priority: z.enum(TICKET_PRIORITIES),
  status: z.enum(TICKET_STATUSES),
  title: z.string(),
  description: z.string().nullable(),
  assigned_to: z.string().nullable(),
  assigned_to_name: z.string().nullable(),
  created_by: z.string().nullable(),
  source: z.string(),
  resolution: z.string().nullable(),
  resolved_at: z.string().nullable(),
  resolved_by: z.string().nullable(),
  comments_count: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const ticketCommentSchema = z.object({
  id: z.string(),
  ticket_id: z.string(),
  author_id: z.string().nullable(),
  author_type: z.enum(['user', 'patient', 'system']),
  author_name: z.string().nullable(),
  content: z.string(),
  is_internal: z.boolean(),
  created_at: z.string(),
});

export const ticketDetailSchema = ticketSchema.extend({ comments: z.array(ticketCommentSchema).describe('Oldest first') });

export type TicketView = z.infer<typeof ticketSchema>;

export function presentTicket(t: Ticket): TicketView {
  return {
    id: t.id,
    number: t.number,
    patient_id: t.patient_id,
    patient_name: t.patient_name ?? null,
    conversation_id: t.conversation_id,
    category: t.category,
    priority: t.priority,
    status: t.status,
    title: t.title,
    description: t.description,
    assigned_to: t.assigned_to,
    assigned_to_name: t.assigned_to_name ?? null,
    created_by: t.created_by,
    source: t.source,
    resolution: t.resolution,
    resolved_at: iso(t.resolved_at),
    resolved_by: t.resolved_by,
    comments_count: Number(t.comments_count ?? 0),
    created_at: iso(t.created_at)!,
    updated_at: iso(t.updated_at)!,
  };
}

export function presentTicketComment(c: TicketComment): z.infer<typeof ticketCommentSchema> {
  return {
    id: c.id,
    ticket_id: c.ticket_id,
    author_id: c.author_id,
    author_type: c.author_type,
    author_name: c.author_name ?? null,
    content: c.content,
    is_internal: c.is_internal,
    created_at: iso(c.created_at)!,
  };
}

export function presentTicketDetail(t: TicketWithComments): z.infer<typeof ticketDetailSchema> {
  return { ...presentTicket(t), comments: t.comments.map(presentTicketComment) };
}
