/** What leaves the API about a conversation (Mark Assistant shapes): a whitelist. */
import { z } from 'zod';
import type { Conversation } from '../../models/conversations.js';
import type { Message } from '../../models/messages.js';
import { iso } from './patients.js';
import { messageSchema, presentMessage } from './messages.js';

export const conversationSchema = z.object({
  id: z.string(),
  patient_id: z.string().nullable(),
  patient_name: z.string().nullable(),
  channel: z.string(),
  status: z.enum(['bot', 'handoff', 'closed']),
  language: z.string().nullable(),
  message_count: z.number().int(),
  summary: z.string().nullable(),
  intent: z.string().nullable(),
  sentiment: z.string().nullable(),
  escalated: z.boolean(),
  assignee: z.string().nullable().describe('User id of the staff member holding the conversation'),
  start_time: z.string(),
  end_time: z.string().nullable(),
  last_message_at: z.string(),
});

export const conversationDetailSchema = conversationSchema.extend({
  messages: z.array(messageSchema).describe('Oldest first'),
  metadata: z.object({ intent: z.string().nullable(), sentiment: z.string().nullable(), escalated: z.boolean() }),
});

export type ConversationView = z.infer<typeof conversationSchema>;
export type ConversationDetailView = z.infer<typeof conversationDetailSchema>;

export function presentConversation(c: Conversation): ConversationView {
  return {
    id: c.id,
    patient_id: c.patient_id,
    patient_name: c.patient_name ?? null,
    channel: c.channel,
    status: c.status,
    language: c.language,
    message_count: c.message_count,
    summary: c.summary,
    intent: c.intent,
    sentiment: c.sentiment,
    escalated: c.escalated,
    assignee: c.assignee_user_id,
    start_time: iso(c.created_at)!,
    end_time: iso(c.closed_at),
    last_message_at: iso(c.last_message_at)!,
  };
}

export function presentConversationDetail(c: Conversation, messages: Message[]): ConversationDetailView {
  return {
    ...presentConversation(c),
    messages: messages.map(presentMessage),
    metadata: { intent: c.intent, sentiment: c.sentiment, escalated: c.escalated },
  };
}
