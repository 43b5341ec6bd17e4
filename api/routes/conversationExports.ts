/** Conversation exports (Mark Assistant "Export Conversation"). */
import { z } from 'zod';
import { route, idParam, fileBody } from '../http/route.js';
import { conversationDetailSchema, presentConversationDetail } from '../presenters/conversations.js';
import { loadConversationExport } from '../../models/conversationExport.js';
import { CSV_CONTENT_TYPE, csvText, messageRow } from '../exports/csv.js';
import { PDF_CONTENT_TYPE, renderConversationPdf } from '../exports/pdf.js';
import type { Context } from 'koa';

/** Headers of a file download that must not be kept by a cache (patient data). */
function download(ctx: Context, contentType: string, filename: string): void {
  ctx.attachment(filename);
  ctx.type = contentType;
  ctx.set('Cache-Control', 'no-store');
}

const csvBody = fileBody('One row per message with a header row (UTF-8 with a byte order mark, CRLF records, cells that would start a spreadsheet formula prefixed with an apostrophe)');

export const conversationExportRoutes = [
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
