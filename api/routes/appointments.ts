/**
 * /appointments: Mark Assistant, VAANI and PRM documents. A provider user
 * linked to a doctor sees and changes only that doctor's appointments; the
 * others answer 404 as if they did not exist.
 */
import { z } from 'zod';
import { withIdempotency } from '../http/idempotency.js';
import { route, paginationQuery, paginate, parseSort, idParam, isoDate, isoDateTime } from '../http/route.js';
import { authorize } from '../policies.js';
import { forbidden } from '../../lib/errors.js';
import { appointmentSchema, appointmentDetailSchema, presentAppointment, presentAppointmentDetail } from '../presenters/appointments.js';
import { availableSlotsSchema, presentSlots } from '../presenters/doctors.js';
import {
  APPOINTMENT_STATUSES, DURATIONS, bookAppointment, getAppointmentDetail, listAppointments, rescheduleAppointment, updateAppointmentDetails,
  type DateBound,
} from '../../models/appointments.js';
import { availableSlotsByDoctor, mergeSlots } from '../../models/slots.js';
import { appointmentActionRoutes, visibleAppointment } from './appointmentActions.js';

const aliases = {
  scheduled_time: 'start_time', scheduled_at: 'start_time', duration: 'duration_minutes',
  provider_id: 'doctor_id', practitioner_id: 'doctor_id', appointment_type: 'type',
  date_from: 'start_date', date_to: 'end_date',
};

const durationInput = z.coerce.number().int()
  .refine((n) => (DURATIONS as readonly number[]).includes(n), 'must be one of 15, 30, 45, 60')
  .describe('Length in minutes: 15, 30, 45 or 60');
const statusList = z.string().max(200)
  .transform((v) => v.split(',').map((s) => s.trim().toLowerCase()).map((s) => (s === 'canceled' ? 'cancelled' : s)))
  .pipe(z.array(z.enum(APPOINTMENT_STATUSES)))
  .describe('One status or several separated by commas (scheduled, confirmed, completed, cancelled, no_show; "canceled" accepted)');
const dateOrInstant = z.union([isoDate, isoDateTime]).describe('A date (YYYY-MM-DD, in the organization\'s time zone) or an ISO date-time');

const toBound = (v: string | undefined): DateBound | undefined => (v === undefined ? undefined : v.length === 10 ? { date: v } : { instant: new Date(v) });

const detailFields = {
  type: z.string().trim().min(1).max(100).describe('consultation (default), follow_up, initial_consultation...'),
  reason: z.string().max(1000).nullable(),
  notes: z.string().max(5000).nullable(),
  location: z.string().max(500).nullable().describe('Defaults to the doctor\'s location'),
};

const createBody = z.object({
  patient_id: z.string().min(1).max(64),
  doctor_id: z.string().min(1).max(64),
  start_time: isoDateTime.describe('UTC or with offset; must be in the future and inside the doctor\'s working hours'),
  duration_minutes: durationInput.default(30),
  ...Object.fromEntries(Object.entries(detailFields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof detailFields]: z.ZodOptional<(typeof detailFields)[K]> },
  source: z.string().trim().min(1).max(50).optional().describe('Who booked: api (default), patient, whatsapp, sms, web, voice...'),
});

const updateBody = z.object({
  start_time: isoDateTime.optional(),
  doctor_id: z.string().min(1).max(64).optional(),
  duration_minutes: durationInput.optional(),
  ...detailFields,
}).partial();

const SORTABLE = ['start_time', 'created_at', 'updated_at'] as const;

export const appointmentsRoutes = [
  route({
    method: 'get', path: '/appointments/available-slots', operationId: 'listAvailableSlots', tag: 'appointments',
    summary: 'Free slots of a doctor (or of every doctor of a specialization) on a date',
    permission: ['appointment.view', 'appointment.create'], rateLimit: 'appointments', aliases,
    query: z.object({
      doctor_id: z.string().min(1).max(64).optional(),
      specialization: z.string().min(1).max(200).optional().describe('Instead of doctor_id: every active doctor of this specialization'),
      date: isoDate.describe('YYYY-MM-DD in the doctor\'s time zone'),
      duration_minutes: durationInput.default(30),
      part_of_day: z.enum(['morning', 'afternoon', 'evening']).optional(),
    }).refine((q) => q.doctor_id || q.specialization, { message: 'doctor_id or specialization is required', path: ['doctor_id'] }),
    response: availableSlotsSchema, errors: [404],
    handler: async ({ deps, orgId, query }) => {
      const perDoctor = await availableSlotsByDoctor(deps.db.knex, { organizationId: orgId }, {
        doctorId: query.doctor_id, specialization: query.doctor_id ? undefined : query.specialization,
        date: query.date, durationMinutes: query.duration_minutes, partOfDay: query.part_of_day, now: deps.clock.now(),
      });
      const slots = mergeSlots(perDoctor);
      const one = query.doctor_id ? perDoctor[0].doctor : null;
      return {
        data: presentSlots(slots, {
          doctorId: one?.id ?? null, doctorName: one?.name ?? null, specialization: one ? one.specialization : query.specialization ?? null,
          date: query.date, durationMinutes: query.duration_minutes,
        }),
      };
    },
  }),
  route({
    method: 'get', path: '/appointments', operationId: 'listAppointments', summary: 'List appointments', tag: 'appointments',
    permission: 'appointment.view', rateLimit: 'appointments', list: true, aliases,
    query: z.object({
      ...paginationQuery,
      patient_id: z.string().min(1).max(64).optional(),
      doctor_id: z.string().min(1).max(64).optional(),
      status: statusList.optional(),
      start_date: dateOrInstant.optional().describe('From this date (inclusive) or instant'),
      end_date: dateOrInstant.optional().describe('To this date (inclusive) or instant'),
      type: z.string().max(100).optional(),
      source: z.string().max(50).optional(),
    }),
    response: z.array(appointmentSchema),
    handler: async ({ deps, orgId, query, principal }) => {
      const sort = parseSort(query.sort, SORTABLE, ['start_time', 'asc']) as [(typeof SORTABLE)[number], 'asc' | 'desc'];
      const own = principal.doctorId;
      if (own && query.doctor_id && query.doctor_id !== own) return { data: [], pagination: paginate(query.page, query.limit, 0) };
      const { rows, total } = await listAppointments(deps.db.knex, { organizationId: orgId }, {
        page: query.page, limit: query.limit, patientId: query.patient_id, doctorId: own ?? query.doctor_id, statuses: query.status,
        from: toBound(query.start_date), to: toBound(query.end_date), type: query.type, source: query.source, sort,
      });
      return { data: rows.map(presentAppointment), pagination: paginate(query.page, query.limit, total) };
    },
  }),
  route({
    method: 'post', path: '/appointments', operationId: 'createAppointment', tag: 'appointments',
    summary: 'Book an appointment (409 with conflicting_appointment_id when the slot is taken)',
    permission: 'appointment.create', rateLimit: 'appointments', status: 201, aliases, body: createBody,
    response: appointmentDetailSchema, errors: [400, 404, 409, 422],
    handler: async ({ ctx, deps, orgId, body, principal }) => {
      const scope = { organizationId: orgId };
      if (principal.doctorId && body.doctor_id !== principal.doctorId) {
        throw forbidden('A provider can only book appointments with their own doctor', { field: 'doctor_id' });
      }
      // A retried booking with the same Idempotency-Key returns the first appointment instead of a 409 against itself.
      return withIdempotency(ctx, deps, orgId, async (trx) => {
        const appointment = await bookAppointment(trx, scope, {
          patientId: body.patient_id, doctorId: body.doctor_id, startTime: body.start_time, durationMinutes: body.duration_minutes,
          type: body.type, reason: body.reason, notes: body.notes, location: body.location, source: body.source ?? 'api',
          actor: 'staff', createdBy: principal.userId, now: deps.clock.now(),
        });
        return { data: presentAppointmentDetail(await getAppointmentDetail(trx, scope, appointment.id)), message: 'Appointment created successfully', status: 201 };
      }, 201);
    },
  }),
  route({
    method: 'get', path: '/appointments/:id', operationId: 'getAppointment', summary: 'Get an appointment', tag: 'appointments',
    permission: 'appointment.view', rateLimit: 'appointments', params: idParam('apt'), response: appointmentDetailSchema, errors: [404],
    handler: async ({ deps, orgId, params, principal }) => ({
      data: presentAppointmentDetail(await visibleAppointment(deps.db.knex, { organizationId: orgId }, principal, params.id)),
    }),
  }),
  ...(['put', 'patch'] as const).map((method) =>
    route({
      method, path: '/appointments/:id', operationId: method === 'put' ? 'replaceAppointment' : 'updateAppointment', tag: 'appointments',
      summary: 'Update an appointment: a new start_time, doctor_id or duration_minutes reschedules it (same rules as booking, atomic)',
      permission: ['appointment.update', 'appointment.reschedule'], rateLimit: 'appointments', params: idParam('apt'), aliases,
      body: updateBody, response: appointmentDetailSchema, errors: [400, 404, 409, 422],
      handler: async ({ deps, orgId, params, body, principal }) => {
        const scope = { organizationId: orgId };
        const moves = body.start_time !== undefined || body.doctor_id !== undefined || body.duration_minutes !== undefined;
        const edits = { type: body.type, reason: body.reason, notes: body.notes, location: body.location };
        const edited = Object.values(edits).some((v) => v !== undefined);
        if (moves) authorize(principal, 'appointment.reschedule');
        if (edited) authorize(principal, 'appointment.update');
        await deps.db.knex.transaction(async (trx) => {
          const current = await visibleAppointment(trx, scope, principal, params.id);
          if (moves) {
            if (principal.doctorId && body.doctor_id && body.doctor_id !== principal.doctorId) {
              throw forbidden('A provider can only move appointments to their own doctor', { field: 'doctor_id' });
            }
            await rescheduleAppointment(trx, scope, params.id, {
              startTime: body.start_time ?? current.start_time, doctorId: body.doctor_id, durationMinutes: body.duration_minutes,
              actor: 'staff', now: deps.clock.now(),
            });
          }
          if (edited) await updateAppointmentDetails(trx, scope, params.id, edits);
        });
        return { data: presentAppointmentDetail(await getAppointmentDetail(deps.db.knex, scope, params.id)), message: 'Appointment updated successfully' };
      },
    }),
  ),
  ...appointmentActionRoutes,
];
