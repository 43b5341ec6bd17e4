/** POST /messages: Mark Assistant "send message" to a patient, on the channel they last used or the one given. */
import { z } from 'zod';
import { route } from '../http/route.js';
import { messageSchema, presentMessage } from '../presenters/messages.js';
import type { Knex } from 'knex';
import type { Db, OrgScope } from '../../models/base.js';
import { getPatient, type Patient } from '../../models/patients.js';
import { findOrCreateOpenConversation, latestConversationOfPatient } from '../../models/conversations.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { fieldError, unprocessable } from '../../lib/errors.js';

/** The channels a message can be sent on from the API (a phone call only speaks within the call). */
export const MESSAGE_CHANNELS = ['webchat', 'sms', 'whatsapp', 'telegram'] as const;
/** Channels whose address is the patient's phone number. */
const PHONE_CHANNELS: readonly string[] = ['sms', 'whatsapp'];

export type MessageChannel = (typeof MESSAGE_CHANNELS)[number];

/** Where a message to the patient goes: the channel asked for, else the one of their latest conversation. */
export async function findDestination(db: Db, scope: OrgScope, patientId: string, requested: MessageChannel | undefined): Promise<{ patient: Patient; channel: string; address: string }> {
  const patient = await getPatient(db, scope, patientId);
  if (requested && PHONE_CHANNELS.includes(requested)) {
    if (!patient.phone) throw unprocessable(`The patient has no phone number for ${requested}`, { field: 'channel', fields: [{ field: 'channel', message: 'the patient has no phone number' }] });
    return { patient, channel: requested, address: patient.phone };
  }
  const latest = await latestConversationOfPatient(db, scope, patient.id, requested);
  if (latest) return { patient, channel: latest.channel, address: latest.channel_address };
  if (requested) throw unprocessable(`The patient has no ${requested} address yet`, { field: 'channel', fields: [{ field: 'channel', message: `no ${requested} address known for this patient` }] });
  throw fieldError('channel', 'is required: the patient has no conversation yet');
}

/** findDestination, and the open conversation there (opened when there is none), in the caller's transaction. */
export async function openDestination(trx: Knex.Transaction, scope: OrgScope, patientId: string, requested: MessageChannel | undefined, opts: { idleMinutes: number; now: Date }) {
  const found = await findDestination(trx, scope, patientId, requested);
  const conversation = await findOrCreateOpenConversation(trx, scope, {
    channel: found.channel, address: found.address, patientId: found.patient.id, language: found.patient.preferred_language,
    idleMinutes: opts.idleMinutes, now: opts.now,
  });
  return { ...found, conversation };
}

export const messageRoutes = [
  route({
    method: 'post', path: '/messages', operationId: 'sendMessage', summary: 'Send a message to a patient (queued, then sent)', tag: 'messages',
    permission: 'communication.send', rateLimit: 'admin', status: 202, errors: [404, 422],
    body: z.object({
      patient_id: z.string().min(1, 'is required').max(64),
      content: z.string().trim().min(1, 'is required').max(4000),
      content_type: z.literal('text').optional(),
      channel: z.enum(MESSAGE_CHANNELS).optional().describe("Default: the channel of the patient's latest conversation"),
    }),
    aliases: { text: 'content', message: 'content' },
    response: messageSchema,
    handler: async ({ deps, orgId, body, principal }) => {
      const scope = { organizationId: orgId };
      const now = deps.clock.now();
      const message = await deps.db.knex.transaction(async (trx) => {
        const { patient, conversation: conv, channel, address } = await openDestination(trx, scope, body.patient_id, body.channel, {
          idleMinutes: deps.config.CONVERSATION_IDLE_MINUTES, now,
        });
        return queueOutboundMessage(trx, scope, {
          conversationId: conv.id, patientId: patient.id, channel, to: address, text: body.content,
          sender: 'system', senderUserId: principal.userId, now,
        });
      });
      deps.hooks.outboundQueued?.();
      return { data: presentMessage(message), message: 'Message queued for delivery' };
    },
  }),
];
