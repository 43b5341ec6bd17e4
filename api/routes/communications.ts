/**
 * /communications: single and bulk sends, batches, and the message list (PRM).
 * Sends only store queued messages; the dispatcher sends them after commit,
 * so both answer 202 at once.
 */
import { z } from 'zod';
import { route, paginationQuery, paginate, parseSort, idParam, isoDate } from '../http/route.js';
import { withIdempotency } from '../http/idempotency.js';
import { batchSchema, communicationSchema, presentBatch, presentCommunication } from '../presenters/communications.js';
import { dateOrDateTime, languageInput } from '../schemas/common.js';
import {
  SEND_CHANNELS, cancelBatch, createBulkSend, getBatch, getCommunication, listCommunications, sendToPatient,
} from '../../models/communications.js';
import { TEMPLATE_VARIABLES, isTemplateVariable, type TemplateValues } from '../../lib/templates.js';
import type { Principal } from '../policies.js';
import type { AppDeps } from '../deps.js';

const content = {
  channel: z.enum(SEND_CHANNELS),
  message: z.string().trim().min(1, 'must not be empty').max(4096).optional(),
  template_id: z.string().min(1).max(120).optional().describe('A tpl_ id or a template name'),
  variables: z.record(z.string(), z.string().max(500))
    .superRefine((v, ctx) => {
      for (const key of Object.keys(v)) {
        if (!isTemplateVariable(key)) ctx.addIssue({ code: 'custom', path: [key], message: `unknown variable; allowed: ${TEMPLATE_VARIABLES.join(', ')}` });
      }
    })
    .transform((v) => v as TemplateValues)
    .optional()
    .describe(`Explicit values, which win over computed ones: ${TEMPLATE_VARIABLES.join(', ')}`),
};

/** Exactly one of message and template_id, reported on both fields. */
const oneContent = (b: { message?: string; template_id?: string }, ctx: z.RefinementCtx) => {
  if ((b.message === undefined) === (b.template_id === undefined)) {
    const message = b.message === undefined ? 'give message or template_id' : 'give message or template_id, not both';
    ctx.addIssue({ code: 'custom', path: ['message'], message });
    ctx.addIssue({ code: 'custom', path: ['template_id'], message });
  }
};

const sendBody = z.object({ patient_id: z.string().min(1).max(64), ...content }).strict().superRefine(oneContent);

const bulkBody = z.object({
  patient_ids: z.array(z.string().min(1).max(64)).min(1).max(100_000).optional(),
  filter: z.object({
    status: z.enum(['active', 'inactive']).optional(),
    appointment_date: isoDate.optional().describe('Patients with an active appointment that local day (clinic time zone)'),
    doctor_id: z.string().min(1).max(64).optional().describe('Patients with an active appointment with this doctor'),
    language: languageInput.optional(),
  }).strict().optional(),
  ...content,
}).strict().superRefine((b, ctx) => {
  oneContent(b, ctx);
  if ((b.patient_ids === undefined) === (b.filter === undefined)) {
    const message = b.patient_ids === undefined ? 'give patient_ids or filter' : 'give patient_ids or filter, not both';
    ctx.addIssue({ code: 'custom', path: ['patient_ids'], message });
    ctx.addIssue({ code: 'custom', path: ['filter'], message });
  }
});

const MESSAGE_STATUSES = ['received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled', 'pending'] as const;
const SORTABLE = ['created_at', 'sent_at', 'status'] as const;

const sender = (p: Principal) => ({ sender: p.kind === 'user' ? 'staff' as const : 'system' as const, senderUserId: p.userId });
const scope = (orgId: string) => ({ organizationId: orgId });
const kick = (deps: AppDeps) => deps.hooks.outboundQueued?.();

export const communicationRoutes = [
  route({
    method: 'get', path: '/communications', operationId: 'listCommunications', summary: 'List messages sent and received', tag: 'communications',
    permission: 'communication.view', rateLimit: 'admin', list: true,
    aliases: { date_from: 'start_date', date_to: 'end_date' },
    query: z.object({
      ...paginationQuery,
      patient_id: z.string().max(64).optional(),
      channel: z.enum([...SEND_CHANNELS, 'voice']).optional(),
      status: z.enum(MESSAGE_STATUSES).optional().describe('A message status; pending = queued or sending'),
      batch_id: z.string().max(64).optional(),
      direction: z.enum(['inbound', 'outbound']).optional(),
      start_date: dateOrDateTime.optional().describe('From this local day (clinic zone) or instant'),
      end_date: dateOrDateTime.optional().describe('To this local day (inclusive) or instant'),
    }),
    response: z.array(communicationSchema),
    handler: async ({ deps, orgId, query }) => {
      const sort = parseSort(query.sort, SORTABLE, ['created_at', 'desc']);
      const { rows, total } = await listCommunications(deps.db.knex, scope(orgId), {
        page: query.page, limit: query.limit, sort, patientId: query.patient_id, channel: query.channel, status: query.status,
        batchId: query.batch_id, direction: query.direction, startDate: query.start_date, endDate: query.end_date,
      });
      return { data: rows.map(presentCommunication), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/communications/send', operationId: 'sendCommunication', summary: 'Send a message to a patient', tag: 'communications',
    permission: 'communication.send', rateLimit: 'admin', status: 202, body: sendBody, response: communicationSchema, errors: [400, 404, 422],
    handler: async ({ ctx, deps, orgId, body, principal }) => {
      const result = await withIdempotency(ctx, deps, orgId, async (trx) => {
        const id = await sendToPatient(trx, scope(orgId), {
          patientId: body.patient_id, channel: body.channel, message: body.message, templateId: body.template_id,
          variables: body.variables, ...sender(principal), now: deps.clock.now(),
        });
        return { data: presentCommunication(await getCommunication(trx, scope(orgId), id)), message: 'Message queued', status: 202 };
      }, 202);
      kick(deps);
      return result;
    },
  }),
  route({
    method: 'post', path: '/communications/send-bulk', operationId: 'sendBulkCommunication', summary: 'Send a message to many patients', tag: 'communications',
    permission: 'communication.bulk', rateLimit: 'bulk', status: 202, body: bulkBody, response: batchSchema, errors: [400, 404, 422],
    handler: async ({ ctx, deps, orgId, body, principal }) => {
      const f = body.filter;
      const result = await withIdempotency(ctx, deps, orgId, async (trx) => {
        const view = await createBulkSend(trx, scope(orgId), {
          patientIds: body.patient_ids,
          filter: f && { status: f.status, appointmentDate: f.appointment_date, doctorId: f.doctor_id, language: f.language },
          channel: body.channel, message: body.message, templateId: body.template_id, variables: body.variables,
          createdBy: principal.userId, sender: sender(principal).sender, now: deps.clock.now(),
        });
        return { data: presentBatch(view), message: `${view.counts.total} messages queued`, status: 202 };
      }, 202);
      kick(deps);
      return result;
    },
  }),
  route({
    method: 'get', path: '/communications/batches/:id', operationId: 'getCommunicationBatch', summary: 'Progress of a bulk send', tag: 'communications',
    permission: ['communication.view', 'communication.bulk'], rateLimit: 'admin', params: idParam('batch'), response: batchSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: presentBatch(await getBatch(deps.db.knex, scope(orgId), params.id)) }),
  }),
  route({
    method: 'post', path: '/communications/batches/:id/cancel', operationId: 'cancelCommunicationBatch', summary: 'Cancel the unsent messages of a bulk send', tag: 'communications',
    permission: 'communication.bulk', rateLimit: 'admin', params: idParam('batch'), response: batchSchema, errors: [404, 409],
    handler: async ({ ctx, deps, orgId, params }) =>
      withIdempotency(ctx, deps, orgId, async (trx) => {
        const view = await cancelBatch(trx, scope(orgId), params.id);
        return { data: presentBatch(view), message: `${view.counts.cancelled} messages cancelled` };
      }),
  }),
];
