/** /patients: Mark Assistant, VAANI and PRM documents. */
import { z } from 'zod';
import { withIdempotency } from '../http/idempotency.js';
import { route, paginationQuery, paginate, parseSort, idParam, isoDate } from '../http/route.js';
import { presentPatient, patientSchema } from '../presenters/patients.js';
import { phoneInput, languageInput } from '../schemas/common.js';
import { createPatient, deletePatient, getPatient, listPatients, updatePatient } from '../../models/patients.js';

const emergencyContact = z.object({
  name: z.string().max(200).optional(),
  phone: z.string().max(32).optional(),
  relationship: z.string().max(100).optional(),
});

const patientFields = {
  name: z.string().trim().min(1, 'is required').max(200),
  phone: phoneInput.nullable(),
  email: z.email('must be a valid email address').max(320).nullable(),
  date_of_birth: isoDate.nullable(),
  gender: z.string().max(50).nullable(),
  address: z.string().max(500).nullable(),
  emergency_contact: emergencyContact.nullable(),
  preferred_language: languageInput,
  status: z.enum(['active', 'inactive']),
  notes: z.string().max(5000).nullable(),
  metadata: z.record(z.string(), z.unknown()),
};

const createBody = z.object({
  ...Object.fromEntries(Object.entries(patientFields).map(([k, v]) => [k, v.optional()])),
  name: patientFields.name,
}) as z.ZodType<{ name: string } & Partial<z.output<z.ZodObject<typeof patientFields>>>>;
const updateBody = z.object(patientFields).partial();
const replaceBody = z.object(patientFields).partial().required({ name: true });

const aliases = { phone_number: 'phone', language_preference: 'preferred_language' };
const SORTABLE = ['created_at', 'updated_at', 'name', 'last_activity_at'] as const;

export const patientRoutes = [
  route({
    method: 'get', path: '/patients', operationId: 'listPatients', summary: 'List patients', tag: 'patients',
    permission: ['patient.view', 'patient.search'], rateLimit: 'admin', list: true, aliases,
    query: z.object({
      ...paginationQuery,
      search: z.string().max(200).optional().describe('Search by name, email or phone'),
      status: z.enum(['active', 'inactive']).optional(),
      language: languageInput.optional(),
      preferred_language: languageInput.optional(),
    }),
    response: z.array(patientSchema),
    handler: async ({ deps, orgId, query }) => {
      const sort = parseSort(query.sort, SORTABLE, ['created_at', 'desc']);
      const { rows, total } = await listPatients(deps.db.knex, { organizationId: orgId }, {
        page: query.page, limit: query.limit, search: query.search, status: query.status,
        language: query.language ?? query.preferred_language, sort,
      });
      return { data: rows.map(presentPatient), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/patients', operationId: 'createPatient', summary: 'Create a patient', tag: 'patients',
    permission: 'patient.create', rateLimit: 'admin', status: 201, aliases, body: createBody, response: patientSchema, errors: [400, 409],
    handler: async ({ ctx, deps, orgId, body }) =>
      withIdempotency(ctx, deps, orgId, async (trx) => {
        const patient = await createPatient(trx, { organizationId: orgId }, body);
        return { data: presentPatient(patient), message: 'Patient created successfully', status: 201 };
      }, 201),
  }),
  route({
    method: 'get', path: '/patients/:id', operationId: 'getPatient', summary: 'Get a patient', tag: 'patients',
    permission: 'patient.view', rateLimit: 'admin', params: idParam('pat'), response: patientSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: presentPatient(await getPatient(deps.db.knex, { organizationId: orgId }, params.id)) }),
  }),
  ...(['put', 'patch'] as const).map((method) =>
    route({
      method, path: '/patients/:id', operationId: method === 'put' ? 'replacePatient' : 'updatePatient',
      summary: method === 'put' ? 'Update a patient (name required)' : 'Update some fields of a patient', tag: 'patients',
      permission: 'patient.update', rateLimit: 'admin', params: idParam('pat'), aliases,
      body: method === 'put' ? replaceBody : updateBody, response: patientSchema, errors: [400, 404, 409],
      handler: async ({ deps, orgId, params, body }) => {
        const patient = await deps.db.knex.transaction((trx) => updatePatient(trx, { organizationId: orgId }, params.id, body));
        return { data: presentPatient(patient), message: 'Patient updated successfully' };
      },
    }),
  ),
  route({
    method: 'delete', path: '/patients/:id', operationId: 'deletePatient', summary: 'Delete a patient (soft delete)', tag: 'patients',
    permission: 'patient.delete', rateLimit: 'admin', params: idParam('pat'), response: z.null(), errors: [403, 404],
    handler: async ({ deps, orgId, params }) => {
      await deps.db.knex.transaction((trx) => deletePatient(trx, { organizationId: orgId }, params.id));
      return { data: null, message: 'Patient deleted successfully' };
    },
  }),
];
