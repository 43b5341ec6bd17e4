/** Status changes of an appointment: cancel (also DELETE, VAANI), confirm, complete, no-show. */
import { z } from 'zod';
import { route, idParam } from '../http/route.js';
import type { Principal } from '../policies.js';
import type { Permission } from '../policies.js';
import { appointmentDetailSchema, presentAppointmentDetail } from '../presenters/appointments.js';
import type { Db, OrgScope } from '../../models/base.js';
import {
  cancelAppointment, completeAppointment, confirmAppointment, getAppointmentDetail, markNoShow,
} from '../../models/appointments.js';
import type { AppDeps } from '../deps.js';

/** The appointment as the principal may see it: a provider linked to a doctor sees only that doctor's (others are 404). */
export const visibleAppointment = (db: Db, scope: OrgScope, principal: Principal, id: string) =>
  getAppointmentDetail(db, scope, id, { onlyDoctorId: principal.doctorId });

type Change = (deps: AppDeps, scope: OrgScope, id: string, principal: Principal, extra: { reason?: string; notifyPatient?: boolean }) => Promise<unknown>;

const cancel: Change = (deps, scope, id, principal, extra) =>
  cancelAppointment(deps.db.knex, scope, id, {
    reason: extra.reason ?? null, actor: 'staff', cancelledBy: principal.userId, notifyPatient: extra.notifyPatient, now: deps.clock.now(),
  });

/** Checks visibility, applies the change, answers with the detail. */
async function applyChange(deps: AppDeps, orgId: string, id: string, principal: Principal, change: Change, extra: { reason?: string; notifyPatient?: boolean } = {}) {
  const scope = { organizationId: orgId };
  await visibleAppointment(deps.db.knex, scope, principal, id);
  await change(deps, scope, id, principal, extra);
  return presentAppointmentDetail(await getAppointmentDetail(deps.db.knex, scope, id));
}

const action = (path: string, operationId: string, summary: string, permission: Permission, change: Change, message: string) =>
  route({
    method: 'post', path: `/appointments/:id/${path}`, operationId, summary, tag: 'appointments',
    permission, rateLimit: 'appointments', params: idParam('apt'), response: appointmentDetailSchema, errors: [404, 409, 422],
    handler: async ({ deps, orgId, params, principal }) => ({ data: await applyChange(deps, orgId, params.id, principal, change), message }),
  });

export const appointmentActionRoutes = [
  route({
    method: 'post', path: '/appointments/:id/cancel', operationId: 'cancelAppointment', summary: 'Cancel an appointment', tag: 'appointments',
    permission: 'appointment.cancel', rateLimit: 'appointments', params: idParam('apt'),
    body: z.object({
      reason: z.string().max(1000).optional(),
      notify_patient: z.boolean().optional().describe('Tell the patient on their channel (recorded on the appointment.cancelled event)'),
    }),
    response: appointmentDetailSchema, errors: [404, 409, 422],
    handler: async ({ deps, orgId, params, body, principal }) => ({
      data: await applyChange(deps, orgId, params.id, principal, cancel, { reason: body.reason, notifyPatient: body.notify_patient }),
      message: 'Appointment cancelled successfully',
    }),
  }),
  route({
    method: 'delete', path: '/appointments/:id', operationId: 'deleteAppointment', summary: 'Cancel an appointment (VAANI); the record is kept', tag: 'appointments',
    permission: 'appointment.cancel', rateLimit: 'appointments', params: idParam('apt'),
    query: z.object({ reason: z.string().max(1000).optional() }),
    response: appointmentDetailSchema, errors: [404, 409, 422],
    handler: async ({ deps, orgId, params, query, principal }) => ({
      data: await applyChange(deps, orgId, params.id, principal, cancel, { reason: query.reason }),
      message: 'Appointment cancelled successfully',
    }),
  }),
  action('confirm', 'confirmAppointment', 'Confirm an appointment (scheduled -> confirmed)', 'appointment.update',
    (deps, scope, id) => confirmAppointment(deps.db.knex, scope, id), 'Appointment confirmed'),
  action('complete', 'completeAppointment', 'Mark an appointment completed (after its start time)', 'appointment.update',
    (deps, scope, id) => completeAppointment(deps.db.knex, scope, id, { now: deps.clock.now() }), 'Appointment completed'),
  action('no-show', 'markAppointmentNoShow', 'Mark that the patient did not come (after the start time)', 'appointment.update',
    (deps, scope, id) => markNoShow(deps.db.knex, scope, id, { now: deps.clock.now() }), 'Appointment marked as no-show'),
];
