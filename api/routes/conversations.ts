/** /conversations: Mark Assistant document (list, get, delete) plus staff reply, handoff, resume and close. */
import { z } from 'zod';
import { route, paginationQuery, paginate, parseSort, idParam } from '../http/route.js';
import { channelInput, conversationStatusInput, dateOrDateTime, languageInput } from '../schemas/common.js';
import { orgDateBounds } from '../../models/dateRange.js';
import { conversationSchema, conversationDetailSchema, presentConversation, presentConversationDetail } from '../presenters/conversations.js';
import { messageSchema, presentMessage } from '../presenters/messages.js';
import { attachTranscriptions } from '../../models/mediaFiles.js';
import {
  CONVERSATION_SORTS, closeConversation, deleteConversation, getConversation, handoffConversation, listConversations,
  queueStaffReply, resumeConversation,
} from '../../models/conversations.js';
import { listConversationMessages } from '../../models/messages.js';
import type { AppDeps } from '../deps.js';

async function detail(deps: AppDeps, orgId: string, id: string) {
  const scope = { organizationId: orgId };
  const conv = await getConversation(deps.db.knex, scope, id);
  const messages = await listConversationMessages(deps.db.knex, scope, id);
  await attachTranscriptions(deps.db.knex, scope, messages);
  return presentConversationDetail(conv, messages);
}

const convParam = idParam('conv');

export const conversationRoutes = [
  route({
    method: 'get', path: '/conversations', operationId: 'listConversations', summary: 'List conversations', tag: 'conversations',
    permission: 'conversation.view', rateLimit: 'admin', list: true,
    query: z.object({
      ...paginationQuery,
      patient_id: z.string().max(64).optional(),
      start_date: dateOrDateTime.optional().describe("Started at or after (a date: from that day's start in the clinic's time zone)"),
      end_date: dateOrDateTime.optional().describe("Started on or before (a date covers that whole day in the clinic's time zone)"),
      language: languageInput.optional(),
      status: conversationStatusInput.optional(),
      channel: channelInput.optional(),
      escalated: z.enum(['true', 'false']).optional(),
      assignee: z.string().max(64).optional().describe('User id of the staff member holding it'),
    }),
    response: z.array(conversationSchema),
    handler: async ({ deps, orgId, query }) => {
      const sort = parseSort(query.sort, CONVERSATION_SORTS, ['last_message_at', 'desc']);
      const scope = { organizationId: orgId };
      const { start, end } = await orgDateBounds(deps.db.knex, scope, query.start_date, query.end_date);
      const { rows, total } = await listConversations(deps.db.knex, scope, {
        page: query.page, limit: query.limit, patientId: query.patient_id, startDate: start, endDate: end,
        language: query.language, status: query.status, channel: query.channel,
        escalated: query.escalated === undefined ? undefined : query.escalated === 'true',
        assigneeUserId: query.assignee, sort,
      });
      return { data: rows.map(presentConversation), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'get', path: '/conversations/:id', operationId: 'getConversation', summary: 'Get a conversation with its messages', tag: 'conversations',
    permission: 'conversation.view', rateLimit: 'admin', params: convParam, response: conversationDetailSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: await detail(deps, orgId, params.id) }),
  }),
  route({
    method: 'delete', path: '/conversations/:id', operationId: 'deleteConversation', summary: 'Delete a conversation (soft delete)', tag: 'conversations',
    permission: 'conversation.delete', rateLimit: 'admin', params: convParam, response: z.null(), errors: [403, 404],
    handler: async ({ deps, orgId, params, ctx }) => {
      await deps.db.knex.transaction((trx) => deleteConversation(trx, { organizationId: orgId }, params.id, { now: deps.clock.now() }));
      deps.logger.info({ conversation_id: params.id, request_id: ctx.state.requestId }, 'conversation deleted');
      return { data: null, message: 'Conversation deleted successfully' };
    },
  }),
  route({
    method: 'post', path: '/conversations/:id/messages', operationId: 'replyToConversation',
    summary: 'Reply as staff (the conversation moves to handoff; the bot stays silent)', tag: 'conversations',
    permission: 'conversation.reply', rateLimit: 'admin', params: convParam, status: 201, errors: [404, 409],
    body: z.object({ content: z.string().trim().min(1, 'is required').max(4000) }),
    aliases: { text: 'content', message: 'content' },
    response: messageSchema,
    handler: async ({ deps, orgId, params, body, principal }) => {
      const { message } = await deps.db.knex.transaction((trx) =>
        queueStaffReply(trx, { organizationId: orgId }, params.id, { text: body.content, userId: principal.userId, now: deps.clock.now() }));
      deps.hooks.outboundQueued?.();
      deps.hooks.staffMessageQueued?.(params.id, message.id);
      return { data: presentMessage(message), message: 'Reply queued' };
    },
  }),
  route({
    method: 'post', path: '/conversations/:id/handoff', operationId: 'handoffConversation', summary: 'Hand the conversation to staff', tag: 'conversations',
    permission: 'conversation.manage', rateLimit: 'admin', params: convParam, errors: [404, 409, 422],
    body: z.object({ reason: z.string().max(500).optional(), assignee_id: z.string().max(64).optional() }),
    response: conversationDetailSchema,
    handler: async ({ deps, orgId, params, body, principal }) => {
      await deps.db.knex.transaction((trx) => handoffConversation(trx, { organizationId: orgId }, params.id, {
        reason: body.reason ?? null, byUserId: principal.userId, assigneeUserId: body.assignee_id ?? null, now: deps.clock.now(),
      }));
      return { data: await detail(deps, orgId, params.id), message: 'Conversation handed off to staff' };
    },
  }),
  route({
    method: 'post', path: '/conversations/:id/resume', operationId: 'resumeConversation', summary: 'Give the conversation back to the bot', tag: 'conversations',
    permission: 'conversation.manage', rateLimit: 'admin', params: convParam, errors: [404, 409], response: conversationDetailSchema,
    handler: async ({ deps, orgId, params }) => {
      await deps.db.knex.transaction((trx) => resumeConversation(trx, { organizationId: orgId }, params.id, { now: deps.clock.now() }));
      return { data: await detail(deps, orgId, params.id), message: 'Conversation resumed by the assistant' };
    },
  }),
  route({
    method: 'post', path: '/conversations/:id/close', operationId: 'closeConversation', summary: 'Close the conversation', tag: 'conversations',
    permission: 'conversation.manage', rateLimit: 'admin', params: convParam, errors: [404, 409], response: conversationDetailSchema,
    handler: async ({ deps, orgId, params }) => {
      await deps.db.knex.transaction((trx) => closeConversation(trx, { organizationId: orgId }, params.id, { now: deps.clock.now(), reason: 'staff' }));
      return { data: await detail(deps, orgId, params.id), message: 'Conversation closed' };
    },
  }),
];
