/** POST /messages: Mark Assistant "send message" to a patient, on the channel they last used or the one given. */
import { z } from 'zod';
import { route } from '../http/route.js';
import { messageSchema, presentMessage } from '../presenters/messages.js';
import { getPatient } from '../../models/patients.js';
import { findOrCreateOpenConversation, latestConversationOfPatient } from '../../models/conversations.js';
import { queueOutboundMessage } from '../../models/messages.js';
import { fieldError, unprocessable } from '../../lib/errors.js';

const CHANNELS = ['webchat', 'sms', 'whatsapp', 'telegram'] as const;
/** Channels whose address is the patient's phone number. */
const PHONE_CHANNELS: readonly string[] = ['sms', 'whatsapp'];

export const messageRoutes = [
  route({
    method: 'post', path: '/messages', operationId: 'sendMessage', summary: 'Send a message to a patient (queued, then sent)', tag: 'messages',
    permission: 'communication.send', rateLimit: 'admin', status: 202, errors: [404, 422],
    body: z.object({
      patient_id: z.string().min(1, 'is required').max(64),
      content: z.string().trim().min(1, 'is required').max(4000),
      content_type: z.literal('text').optional(),
      channel: z.enum(CHANNELS).optional().describe("Default: the channel of the patient's latest conversation"),
    }),
    aliases: { text: 'content', message: 'content' },
    response: messageSchema,
    handler: async ({ deps, orgId, body, principal }) => {
      const scope = { organizationId: orgId };
      const now = deps.clock.now();
      const message = await deps.db.knex.transaction(async (trx) => {
        const patient = await getPatient(trx, scope, body.patient_id);
        let channel: string;
        let address: string | null = null;
        const latest = await latestConversationOfPatient(trx, scope, patient.id, body.channel);
        if (body.channel && PHONE_CHANNELS.includes(body.channel)) {
          channel = body.channel;
          address = patient.phone;
          if (!address) throw unprocessable(`The patient has no phone number for ${channel}`, { field: 'channel', fields: [{ field: 'channel', message: 'the patient has no phone number' }] });
        } else if (latest) {
          channel = latest.channel;
          address = latest.channel_address;
        } else if (body.channel) {
          throw unprocessable(`The patient has no ${body.channel} address yet`, { field: 'channel', fields: [{ field: 'channel', message: `no ${body.channel} address known for this patient` }] });
        } else {
          throw fieldError('channel', 'is required: the patient has no conversation yet');
        }
        const conv = await findOrCreateOpenConversation(trx, scope, {
          channel, address, patientId: patient.id, language: patient.preferred_language,
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
