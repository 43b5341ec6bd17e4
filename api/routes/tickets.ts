/** /tickets: PRM document (list, create, get, update, comment, resolve). */
import { z } from 'zod';
import { route, paginationQuery, paginate, parseSort, idParam } from '../http/route.js';
import { authorize } from '../policies.js';
import { presentTicket, presentTicketComment, presentTicketDetail, ticketCommentSchema, ticketDetailSchema, ticketSchema } from '../presenters/tickets.js';
import {
  TICKET_CATEGORIES, TICKET_PRIORITIES, TICKET_SORTS, TICKET_STATUSES,
  addTicketComment, createTicket, getTicket, listTickets, resolveTicket, updateTicket,
} from '../../models/tickets.js';

const id64 = z.string().min(1).max(64);
const ticketParam = idParam('tkt');

export const ticketRoutes = [
  route({
    method: 'get', path: '/tickets', operationId: 'listTickets', summary: 'List tickets', tag: 'tickets',
    permission: 'ticket.view', rateLimit: 'admin', list: true,
    query: z.object({
      ...paginationQuery,
      patient_id: id64.optional(),
      conversation_id: id64.optional(),
      category: z.enum(TICKET_CATEGORIES).optional(),
      priority: z.enum(TICKET_PRIORITIES).optional(),
      status: z.enum(TICKET_STATUSES).optional(),
      assigned_to: id64.optional(),
      search: z.string().max(200).optional().describe('Search title and description'),
    }),
    response: z.array(ticketSchema),
    handler: async ({ deps, orgId, query }) => {
      const sort = parseSort(query.sort, TICKET_SORTS, ['created_at', 'desc']);
      const { rows, total } = await listTickets(deps.db.knex, { organizationId: orgId }, {
        page: query.page, limit: query.limit, patientId: query.patient_id, conversationId: query.conversation_id,
        category: query.category, priority: query.priority, status: query.status, assignedTo: query.assigned_to,
        search: query.search, sort,
      });
      return { data: rows.map(presentTicket), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/tickets', operationId: 'createTicket', summary: 'Create a ticket', tag: 'tickets',
    permission: 'ticket.create', rateLimit: 'admin', status: 201, errors: [400, 422],
    body: z.object({
      category: z.enum(TICKET_CATEGORIES).default('general'),
      priority: z.enum(TICKET_PRIORITIES).default('medium'),
      title: z.string().trim().min(1, 'is required').max(200),
      description: z.string().max(5000).nullable().optional(),
      assigned_to: id64.nullable().optional(),
      patient_id: id64.nullable().optional(),
      conversation_id: id64.nullable().optional(),
    }),
    response: ticketDetailSchema,
    handler: async ({ deps, orgId, body, principal }) => {
      const scope = { organizationId: orgId };
      const ticket = await createTicket(deps.db.knex, scope, {
        category: body.category, priority: body.priority, title: body.title, description: body.description ?? null,
        assignedTo: body.assigned_to ?? null, patientId: body.patient_id ?? null, conversationId: body.conversation_id ?? null,
        createdBy: principal.userId, source: principal.kind === 'api_key' ? 'api' : 'staff',
      });
      return { data: presentTicketDetail(await getTicket(deps.db.knex, scope, ticket.id)), message: 'Ticket created successfully' };
    },
  }),
  route({
    method: 'get', path: '/tickets/:id', operationId: 'getTicket', summary: 'Get a ticket with its comments', tag: 'tickets',
    permission: 'ticket.view', rateLimit: 'admin', params: ticketParam, response: ticketDetailSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: presentTicketDetail(await getTicket(deps.db.knex, { organizationId: orgId }, params.id)) }),
  }),
  route({
    method: 'patch', path: '/tickets/:id', operationId: 'updateTicket', summary: 'Update status, priority or assignment of a ticket', tag: 'tickets',
    permission: ['ticket.update', 'ticket.assign'], rateLimit: 'admin', params: ticketParam, errors: [404, 409, 422],
    body: z.object({
      status: z.enum(TICKET_STATUSES).optional(),
      priority: z.enum(TICKET_PRIORITIES).optional(),
      category: z.enum(TICKET_CATEGORIES).optional(),
      title: z.string().trim().min(1).max(200).optional(),
      description: z.string().max(5000).nullable().optional(),
      assigned_to: id64.nullable().optional(),
    }).refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'give at least one field to change', path: ['body'] }),
    response: ticketDetailSchema,
    handler: async ({ deps, orgId, params, body, principal }) => {
      const scope = { organizationId: orgId };
      // Assignment needs ticket.assign; every other change ticket.update; resolving here needs ticket.resolve.
      if (body.assigned_to !== undefined) authorize(principal, 'ticket.assign');
      if (Object.entries(body).some(([k, v]) => k !== 'assigned_to' && v !== undefined)) authorize(principal, 'ticket.update');
      if (body.status === 'resolved' || body.status === 'closed') authorize(principal, 'ticket.resolve');
      await updateTicket(deps.db.knex, scope, params.id, {
        status: body.status, priority: body.priority, category: body.category, title: body.title,
        description: body.description, assignedTo: body.assigned_to, byUserId: principal.userId, now: deps.clock.now(),
      });
      return { data: presentTicketDetail(await getTicket(deps.db.knex, scope, params.id)), message: 'Ticket updated successfully' };
    },
  }),
  route({
    method: 'post', path: '/tickets/:id/comments', operationId: 'addTicketComment', summary: 'Add a comment to a ticket', tag: 'tickets',
    permission: 'ticket.update', rateLimit: 'admin', params: ticketParam, status: 201, errors: [404],
    body: z.object({ content: z.string().trim().min(1, 'is required').max(5000), is_internal: z.boolean().optional() }),
    response: ticketCommentSchema,
    handler: async ({ deps, orgId, params, body, principal }) => {
      const scope = { organizationId: orgId };
      const comment = await addTicketComment(deps.db.knex, scope, params.id, { content: body.content, isInternal: body.is_internal, authorId: principal.userId, authorType: 'user' });
      const withName = (await getTicket(deps.db.knex, scope, params.id)).comments.find((c) => c.id === comment.id) ?? comment;
      return { data: presentTicketComment(withName), message: 'Comment added' };
    },
  }),
  route({
    method: 'post', path: '/tickets/:id/resolve', operationId: 'resolveTicket', summary: 'Resolve a ticket', tag: 'tickets',
    permission: 'ticket.resolve', rateLimit: 'admin', params: ticketParam, errors: [404, 409],
    body: z.object({ resolution: z.string().trim().min(1, 'is required').max(5000) }),
    response: ticketDetailSchema,
    handler: async ({ deps, orgId, params, body, principal }) => {
      const scope = { organizationId: orgId };
      await resolveTicket(deps.db.knex, scope, params.id, { resolution: body.resolution, byUserId: principal.userId, now: deps.clock.now() });
      return { data: presentTicketDetail(await getTicket(deps.db.knex, scope, params.id)), message: 'Ticket resolved successfully' };
    },
  }),
];
