/** /templates: message templates with one body per language (PRM communications). */
import { z } from 'zod';
import { route, paginationQuery, paginate, idParam } from '../http/route.js';
import { withIdempotency } from '../http/idempotency.js';
import { presentTemplate, templateSchema } from '../presenters/communications.js';
import { createTemplate, deleteTemplate, getTemplate, listTemplates, updateTemplate } from '../../models/templates.js';
import { SEND_CHANNELS } from '../../models/communications.js';
import { TEMPLATE_LANGUAGES } from '../../lib/templates.js';

const body = z.string().trim().min(1, 'must not be empty').max(4096);
const channel = z.enum(SEND_CHANNELS).nullable().describe('The only channel it may be sent on; null for any');
const category = z.string().trim().min(1).max(50).regex(/^[a-z0-9_]+$/, 'must be lower-case letters, digits or _');

const createBody = z.object({
  name: z.string().trim().min(1, 'is required').max(120),
  description: z.string().max(1000).nullable().optional(),
  channel: channel.optional(),
  category: category.optional(),
  bodies: z.partialRecord(z.enum(TEMPLATE_LANGUAGES), body)
    .refine((b) => Object.keys(b).length > 0, 'at least one language body is required')
    .describe('One body per language: {"en": "Hello {{name}}", "es": "Hola {{name}}"}'),
}).strict();

const patchBody = z.object({
  name: createBody.shape.name.optional(),
  description: z.string().max(1000).nullable().optional(),
  channel: channel.optional(),
  category: category.optional(),
  bodies: z.partialRecord(z.enum(TEMPLATE_LANGUAGES), body.nullable()).optional()
    .describe('Merged by language; a null body removes that language'),
}).strict();

const scope = (orgId: string) => ({ organizationId: orgId });

export const templateRoutes = [
  route({
    method: 'get', path: '/templates', operationId: 'listTemplates', summary: 'List message templates', tag: 'communications',
    permission: ['communication.view', 'template.manage'], rateLimit: 'admin', list: true,
    query: z.object({
      page: paginationQuery.page,
      limit: paginationQuery.limit,
      channel: z.enum(SEND_CHANNELS).optional().describe('Templates usable on this channel'),
      category: z.string().max(50).optional(),
      search: z.string().max(120).optional().describe('Part of the name'),
    }),
    response: z.array(templateSchema),
    handler: async ({ deps, orgId, query }) => {
      const { rows, total } = await listTemplates(deps.db.knex, scope(orgId), query);
      return { data: rows.map(presentTemplate), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/templates', operationId: 'createTemplate', summary: 'Create a message template', tag: 'communications',
    permission: 'template.manage', rateLimit: 'admin', status: 201, body: createBody, response: templateSchema, errors: [400, 409, 422],
    handler: async ({ ctx, deps, orgId, body, principal }) =>
      withIdempotency(ctx, deps, orgId, async (trx) => {
        const t = await createTemplate(trx, scope(orgId), { ...body, bodies: body.bodies as Record<string, string> }, principal.userId);
        return { data: presentTemplate(t), message: 'Template created successfully', status: 201 };
      }, 201),
  }),
  route({
    method: 'get', path: '/templates/:id', operationId: 'getTemplate', summary: 'Get a message template', tag: 'communications',
    permission: ['communication.view', 'template.manage'], rateLimit: 'admin', params: idParam('tpl'), response: templateSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: presentTemplate(await getTemplate(deps.db.knex, scope(orgId), params.id)) }),
  }),
  route({
    method: 'patch', path: '/templates/:id', operationId: 'updateTemplate', summary: 'Update a message template', tag: 'communications',
    permission: 'template.manage', rateLimit: 'admin', params: idParam('tpl'), body: patchBody, response: templateSchema, errors: [400, 404, 409],
    handler: async ({ deps, orgId, params, body }) => {
      const t = await deps.db.knex.transaction((trx) => updateTemplate(trx, scope(orgId), params.id, body));
      return { data: presentTemplate(t), message: 'Template updated successfully' };
    },
  }),
  route({
    method: 'delete', path: '/templates/:id', operationId: 'deleteTemplate', summary: 'Delete a message template', tag: 'communications',
    permission: 'template.manage', rateLimit: 'admin', params: idParam('tpl'), response: z.null(), errors: [404],
    handler: async ({ deps, orgId, params }) => {
      await deps.db.knex.transaction((trx) => deleteTemplate(trx, scope(orgId), params.id));
      return { data: null, message: 'Template deleted successfully' };
    },
  }),
];
