/** /call-logs: VAANI document (list, get): the clinic's phone calls and what was said in them. */
import { z } from 'zod';
import { route, paginationQuery, paginate, idParam } from '../http/route.js';
import { dateOrDateTime } from '../schemas/common.js';
import { orgDateBounds } from '../../models/dateRange.js';
import { CALL_STATUSES, getCallDetail, listCalls } from '../../models/calls.js';
import { callLogDetailSchema, callLogSchema, presentCallLog, presentCallLogDetail } from '../presenters/callLogs.js';

export const callLogRoutes = [
  route({
    method: 'get', path: '/call-logs', operationId: 'listCallLogs', summary: 'List phone calls, newest first', tag: 'calls',
    permission: 'conversation.view', rateLimit: 'admin', list: true,
    query: z.object({
      ...paginationQuery,
      patient_id: z.string().min(1).max(64).optional(),
      direction: z.enum(['inbound', 'outbound']).optional(),
      status: z.enum(CALL_STATUSES).optional(),
      start_date: dateOrDateTime.optional().describe("Started at or after (a date: from that day's start in the clinic's time zone)"),
      end_date: dateOrDateTime.optional().describe("Started on or before (a date covers that whole day in the clinic's time zone)"),
    }),
    response: z.array(callLogSchema),
    handler: async ({ deps, orgId, query }) => {
      const scope = { organizationId: orgId };
      const { start, end } = await orgDateBounds(deps.db.knex, scope, query.start_date, query.end_date);
      const { rows, total } = await listCalls(deps.db.knex, scope, {
        page: query.page, limit: query.limit, patientId: query.patient_id, direction: query.direction, status: query.status, from: start, to: end,
      });
      return { data: rows.map(presentCallLog), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'get', path: '/call-logs/:id', operationId: 'getCallLog', summary: 'Get a phone call with its transcript', tag: 'calls',
    permission: 'conversation.view', rateLimit: 'admin', params: idParam('call'), errors: [404],
    response: callLogDetailSchema,
    handler: async ({ deps, orgId, params }) => ({ data: presentCallLogDetail(await getCallDetail(deps.db.knex, { organizationId: orgId }, params.id)) }),
  }),
];
