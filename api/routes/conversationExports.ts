/**
 * Conversation exports (Mark Assistant "Export Conversation", plus the
 * organization-wide export over a date range). Mounted before
 * conversationRoutes: @koa/router runs every matching route in registration
 * order, and /conversations/:id would otherwise answer /conversations/export.
 */
import { z } from 'zod';
import { route, idParam, fileBody } from '../http/route.js';
import { fieldError } from '../../lib/errors.js';
import { channelInput, conversationStatusInput, dateOrDateTime, languageInput } from '../schemas/common.js';
import { orgDateBounds } from '../../models/dateRange.js';
import { conversationDetailSchema, presentConversationDetail } from '../presenters/conversations.js';
import { loadConversationExport, conversationExportEvents } from '../../models/conversationExport.js';
import { CSV_CONTENT_TYPE, csvText, messageRow } from '../exports/csv.js';
import { PDF_CONTENT_TYPE, renderConversationPdf } from '../exports/pdf.js';
import { exportStream } from '../exports/stream.js';
import type { Context } from 'koa';

/** The longest range the organization-wide export accepts. */
export const MAX_EXPORT_DAYS = 366;
const DAY_MS = 86_400_000;
const NDJSON_CONTENT_TYPE = 'application/x-ndjson; charset=utf-8';

/** Headers of a file download that must not be kept by a cache (patient data). */
function download(ctx: Context, contentType: string, filename: string): void {
  ctx.attachment(filename);
  ctx.type = contentType;
  ctx.set('Cache-Control', 'no-store');
}

const csvBody = fileBody('One row per message with a header row (UTF-8 with a byte order mark, CRLF records, cells that would start a spreadsheet formula prefixed with an apostrophe)');

export const conversationExportRoutes = [
  route({
    method: 'get', path: '/conversations/export', operationId: 'exportConversations',
    summary: 'Export the conversations of a date range with their messages (streamed)', tag: 'conversations',
    permission: 'conversation.export', rateLimit: 'admin', raw: true, download: true, errors: [400],
    query: z.object({
      start_date: dateOrDateTime.describe('Conversations started at or after (required)'),
      end_date: dateOrDateTime.describe(`Started on or before, a date covering that whole day in the clinic's time zone; at most ${MAX_EXPORT_DAYS} days after start_date (required)`),
      format: z.enum(['csv', 'json', 'ndjson']).default('csv')
        .describe('csv: one row per message; json: an array of conversations with their messages; ndjson: one conversation with its messages per line'),
      patient_id: z.string().max(64).optional(),
      language: languageInput.optional(),
      status: conversationStatusInput.optional(),
      channel: channelInput.optional(),
    }),
    response: z.array(conversationDetailSchema),
    contents: {
      'text/csv': csvBody,
      'application/json': z.array(conversationDetailSchema).describe('Conversations oldest first, each as GET /conversations/{id}'),
      'application/x-ndjson': fileBody('One conversation per line, each as GET /conversations/{id}'),
    },
    handler: async ({ ctx, deps, orgId, query }) => {
      const scope = { organizationId: orgId };
      const bounds = await orgDateBounds(deps.db.knex, scope, query.start_date, query.end_date);
      const startDate = bounds.start!;
      const endDate = bounds.end!;
      if (endDate.getTime() <= startDate.getTime()) throw fieldError('end_date', 'must not be before start_date');
      if (endDate.getTime() - startDate.getTime() > MAX_EXPORT_DAYS * DAY_MS) throw fieldError('end_date', `the range may cover at most ${MAX_EXPORT_DAYS} days`);
      const batchSize = deps.config.EXPORT_BATCH_SIZE;
      const events = conversationExportEvents(deps.db.knex, scope, {
        startDate, endDate, patientId: query.patient_id, language: query.language, status: query.status, channel: query.channel,
      }, { batchSize, messagePageSize: batchSize * 5 });
      const requestId = ctx.state.requestId as string;
      // Ids and counts only; a failure's error itself is logged by the app's error listener.
      const body = exportStream(events, query.format, (counts, outcome) => {
        deps.logger[outcome === 'failed' ? 'warn' : 'info']({ request_id: requestId, organization_id: orgId, format: query.format, ...counts, outcome }, 'conversations export');
      });
      const type = { csv: CSV_CONTENT_TYPE, json: 'application/json; charset=utf-8', ndjson: NDJSON_CONTENT_TYPE }[query.format];
      download(ctx, type, `conversations_${query.start_date.slice(0, 10)}_${query.end_date.slice(0, 10)}.${query.format}`);
      ctx.status = 200;
      ctx.body = body;
    },
  }),
  route({
    method: 'get', path: '/conversations/:id/export', operationId: 'exportConversation',
    summary: 'Export a conversation with its messages as a PDF transcript, CSV or JSON file', tag: 'conversations',
    permission: 'conversation.export', rateLimit: 'admin', raw: true, download: true, errors: [400, 404],
    params: idParam('conv'),
    query: z.object({ format: z.enum(['pdf', 'csv', 'json']).default('json').describe('pdf, csv or json (default)') }),
    response: conversationDetailSchema,
    contents: {
      'application/json': conversationDetailSchema.describe('The conversation as GET /conversations/{id} answers it (without the envelope)'),
      'text/csv': csvBody,
      'application/pdf': fileBody('A transcript: clinic, patient, channel, language, status, start and end, then each message with its local time and sender', true),
    },
    handler: async ({ ctx, deps, orgId, params, query }) => {
      const exp = await loadConversationExport(deps.db.knex, { organizationId: orgId }, params.id);
      const c = exp.conversation;
      if (query.format === 'json') {
        download(ctx, 'application/json; charset=utf-8', `${c.id}.json`);
        ctx.body = JSON.stringify(presentConversationDetail(c, exp.messages));
      } else if (query.format === 'csv') {
        download(ctx, CSV_CONTENT_TYPE, `${c.id}.csv`);
        ctx.body = csvText(exp.messages.map((m) => messageRow(c, m)), { header: true });
      } else {
        const pdf = await renderConversationPdf(exp, { now: deps.clock.now() });
        download(ctx, PDF_CONTENT_TYPE, `${c.id}.pdf`);
        ctx.body = pdf;
      }
      ctx.status = 200;
      deps.logger.info({ request_id: ctx.state.requestId, conversation_id: c.id, format: query.format, messages: exp.messages.length }, 'conversation exported');
    },
  }),
];
