/** What leaves the API about an appointment: list rows (VAANI/PRM) and the detail (Mark/VAANI). */
import { z } from 'zod';
import type { AppointmentWithNames } from '../../models/appointmentQueries.js';
import { APPOINTMENT_STATUSES } from '../../models/appointmentQueries.js';
import { iso } from './patients.js';

export const appointmentSchema = z.object({
  id: z.string(),
  patient_id: z.string(),
  patient_name: z.string(),
  doctor_id: z.string(),
  doctor_name: z.string(),
  start_time: z.string(),
  end_time: z.string(),
  duration_minutes: z.number().int(),
  type: z.string(),
  status: z.enum(APPOINTMENT_STATUSES),
  reason: z.string().nullable(),
  notes: z.string().nullable(),
  location: z.string().nullable(),
  source: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const reminderSchema = z.object({
  channel: z.string(),
  time: z.string(),
  status: z.string(),
});

export const appointmentDetailSchema = appointmentSchema.extend({
  patient: z.object({ id: z.string(), name: z.string(), phone: z.string().nullable(), preferred_language: z.string() }),
  doctor: z.object({ id: z.string(), name: z.string(), specialization: z.string() }),
  created_by: z.string().nullable(),
  confirmed_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  no_show_at: z.string().nullable(),
  cancelled_at: z.string().nullable(),
  cancellation_reason: z.string().nullable(),
  cancelled_by: z.string().nullable(),
  rescheduled_from: z.string().nullable().describe('The start time before the last reschedule'),
  reminders: z.array(reminderSchema).describe('Reminders planned or sent for this appointment'),
});

export type AppointmentView = z.infer<typeof appointmentSchema>;
export type AppointmentDetailView = z.infer<typeof appointmentDetailSchema>;

export function presentAppointment(a: AppointmentWithNames): AppointmentView {
  return {
    id: a.id,
    patient_id: a.patient_id,
    patient_name: a.patient_name,
    doctor_id: a.doctor_id,
    doctor_name: a.doctor_name,
    start_time: iso(a.start_time)!,
    end_time: iso(a.end_time)!,
    duration_minutes: a.duration_minutes,
    type: a.type,
    status: a.status,
    reason: a.reason,
    notes: a.notes,
    location: a.location,
    source: a.source,
    created_at: iso(a.created_at)!,
    updated_at: iso(a.updated_at)!,
  };
}

export function presentAppointmentDetail(a: AppointmentWithNames, reminders: z.infer<typeof reminderSchema>[] = []): AppointmentDetailView {
  return {
    ...presentAppointment(a),
    patient: { id: a.patient_id, name: a.patient_name, phone: a.patient_phone, preferred_language: a.patient_preferred_language },
    doctor: { id: a.doctor_id, name: a.doctor_name, specialization: a.doctor_specialization },
    created_by: a.created_by,
    confirmed_at: iso(a.confirmed_at),
    completed_at: iso(a.completed_at),
    no_show_at: iso(a.no_show_at),
    cancelled_at: iso(a.cancelled_at),
    cancellation_reason: a.cancellation_reason,
    cancelled_by: a.cancelled_by,
    rescheduled_from: a.rescheduled_from,
    reminders: a.reminders
      ? a.reminders.map((r) => ({ channel: r.channel ?? 'none', time: iso(r.time)!, status: r.status }))
      : reminders,
  };
}
