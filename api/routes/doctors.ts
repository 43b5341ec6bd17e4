/** /doctors: VAANI document (doctors, working hours, schedule). */
import { z } from 'zod';
import { route, paginationQuery, paginate, parseSort, idParam, isoDate } from '../http/route.js';
import { phoneInput, workingHoursInput } from '../schemas/common.js';
import { doctorSchema, presentDoctor, presentSchedule, dayScheduleSchema, weekScheduleSchema } from '../presenters/doctors.js';
import { createDoctor, deleteDoctor, getDoctor, listDoctors, updateDoctor } from '../../models/doctors.js';
import { getDoctorSchedule } from '../../models/slots.js';
import { DURATIONS } from '../../models/appointmentQueries.js';
import { isValidZone } from '../../models/workingHours.js';

const booleanQuery = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const doctorFields = {
  name: z.string().trim().min(1, 'is required').max(200),
  specialization: z.string().trim().min(1, 'is required').max(200),
  phone: phoneInput.nullable(),
  email: z.email('must be a valid email address').max(320).nullable(),
  working_hours: workingHoursInput,
  time_zone: z.string().max(64).refine(isValidZone, 'must be an IANA time zone, e.g. Europe/Madrid').nullable()
    .describe('IANA zone of its working hours; null or absent: the organization\'s'),
  location: z.string().max(500).nullable(),
  active: z.boolean(),
};

const createBody = z.object(doctorFields).partial().required({ name: true, specialization: true });
const updateBody = z.object(doctorFields).partial();
const aliases = { phone_number: 'phone' };
const SORTABLE = ['name', 'specialization', 'created_at', 'updated_at'] as const;

export const doctorsRoutes = [
  route({
    method: 'get', path: '/doctors', operationId: 'listDoctors', summary: 'List doctors', tag: 'doctors',
    permission: 'doctor.view', rateLimit: 'admin', list: true,
    query: z.object({
      ...paginationQuery,
      specialization: z.string().max(200).optional().describe('Exact specialization (case-insensitive)'),
      available: booleanQuery.optional().describe('true: only active doctors; false: only inactive ones'),
      search: z.string().max(200).optional().describe('Search by name or specialization'),
    }),
    response: z.array(doctorSchema),
    handler: async ({ deps, orgId, query }) => {
      const sort = parseSort(query.sort, SORTABLE, ['name', 'asc']);
      const { rows, total } = await listDoctors(deps.db.knex, { organizationId: orgId }, {
        page: query.page, limit: query.limit, specialization: query.specialization, available: query.available, search: query.search, sort,
      });
      return { data: rows.map(presentDoctor), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/doctors', operationId: 'createDoctor', summary: 'Create a doctor', tag: 'doctors',
    permission: 'doctor.manage', rateLimit: 'admin', status: 201, aliases, body: createBody, response: doctorSchema, errors: [400],
    handler: async ({ deps, orgId, body }) => {
      const doctor = await deps.db.knex.transaction((trx) => createDoctor(trx, { organizationId: orgId }, body));
      return { data: presentDoctor(doctor), message: 'Doctor created successfully' };
    },
  }),
  route({
    method: 'get', path: '/doctors/:id', operationId: 'getDoctor', summary: 'Get a doctor', tag: 'doctors',
    permission: 'doctor.view', rateLimit: 'admin', params: idParam('doc'), response: doctorSchema, errors: [404],
    handler: async ({ deps, orgId, params }) => ({ data: presentDoctor(await getDoctor(deps.db.knex, { organizationId: orgId }, params.id)) }),
  }),
  route({
    method: 'patch', path: '/doctors/:id', operationId: 'updateDoctor', summary: 'Update some fields of a doctor (working_hours is replaced whole)', tag: 'doctors',
    permission: 'doctor.manage', rateLimit: 'admin', params: idParam('doc'), aliases, body: updateBody, response: doctorSchema, errors: [400, 404],
    handler: async ({ deps, orgId, params, body }) => {
      const doctor = await deps.db.knex.transaction((trx) => updateDoctor(trx, { organizationId: orgId }, params.id, body));
      return { data: presentDoctor(doctor), message: 'Doctor updated successfully' };
    },
  }),
  route({
    method: 'delete', path: '/doctors/:id', operationId: 'deleteDoctor', tag: 'doctors',
    summary: 'Delete a doctor (soft delete). 409 while it has upcoming appointments, unless force=true, which cancels them',
    permission: 'doctor.manage', rateLimit: 'admin', params: idParam('doc'),
    query: z.object({ force: booleanQuery.optional().describe('Also cancel its upcoming appointments') }),
    response: z.object({ cancelled_appointments: z.number().int() }), errors: [404, 409],
    handler: async ({ deps, orgId, params, query, principal }) => {
      const res = await deps.db.knex.transaction((trx) => deleteDoctor(trx, { organizationId: orgId }, params.id, {
        force: query.force, now: deps.clock.now(), deletedBy: principal.userId,
      }));
      return { data: { cancelled_appointments: res.cancelledAppointments }, message: 'Doctor deleted successfully' };
    },
  }),
  route({
    method: 'get', path: '/doctors/:id/schedule', operationId: 'getDoctorSchedule', tag: 'doctors',
    summary: 'A doctor\'s appointments, working hours and free slots for a day, or for 7 days with week=true',
    permission: 'doctor.view', rateLimit: 'admin', params: idParam('doc'),
    query: z.object({
      date: isoDate.optional().describe('YYYY-MM-DD in the doctor\'s zone; default today'),
      week: booleanQuery.optional().describe('The 7 days starting at date'),
      duration_minutes: z.coerce.number().int().refine((n) => (DURATIONS as readonly number[]).includes(n), 'must be one of 15, 30, 45, 60').optional()
        .describe('Slot length for available_slots (default 30)'),
    }),
    response: z.union([dayScheduleSchema, weekScheduleSchema]), errors: [404],
    handler: async ({ deps, orgId, params, query }) => {
      const week = query.week ?? false;
      const { doctor, zone, days } = await getDoctorSchedule(deps.db.knex, { organizationId: orgId }, params.id, {
        date: query.date, days: week ? 7 : 1, durationMinutes: query.duration_minutes ?? 30, now: deps.clock.now(),
      });
      return { data: presentSchedule(doctor, zone, days, week) };
    },
  }),
];
