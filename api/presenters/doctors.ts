/** What leaves the API about a doctor, its schedule and its free slots (VAANI shapes). */
import { z } from 'zod';
import type { Doctor } from '../../models/doctors.js';
import type { AvailableSlot, ScheduleDay } from '../../models/slots.js';
import { WEEKDAYS } from '../../models/workingHours.js';
import { iso } from './patients.js';

const workingHoursSchema = z.object(Object.fromEntries(WEEKDAYS.map((d) => [d, z.array(z.string())])) as Record<(typeof WEEKDAYS)[number], z.ZodArray<z.ZodString>>)
  .describe('Weekly hours in the doctor\'s time zone: {"monday": ["09:00-13:00", "14:00-18:00"], ...}');

export const doctorSchema = z.object({
  id: z.string(),
  name: z.string(),
  specialization: z.string(),
  phone: z.string().nullable(),
  email: z.string().nullable(),
  working_hours: workingHoursSchema,
  time_zone: z.string().describe('The IANA zone its working hours are read in: its own or the organization\'s'),
  location: z.string().nullable(),
  active: z.boolean(),
  available: z.boolean().describe('Alias of active (VAANI)'),
  created_at: z.string(),
  updated_at: z.string(),
});

export function presentDoctor(d: Doctor): z.infer<typeof doctorSchema> {
  const hours = Object.fromEntries(WEEKDAYS.map((day) => [day, d.working_hours?.[day] ?? []])) as z.infer<typeof workingHoursSchema>;
  return {
    id: d.id,
    name: d.name,
    specialization: d.specialization,
    phone: d.phone,
    email: d.email,
    working_hours: hours,
    time_zone: d.effective_time_zone,
    location: d.location,
    active: d.active,
    available: d.active,
    created_at: iso(d.created_at)!,
    updated_at: iso(d.updated_at)!,
  };
}

const scheduleDaySchema = z.object({
  date: z.string(),
  working_hours: z.array(z.string()).describe('This day\'s ranges, local time'),
  appointments: z.array(z.object({
    id: z.string(),
    patient_id: z.string(),
    patient_name: z.string(),
    start_time: z.string().describe('Local HH:MM'),
    end_time: z.string().describe('Local HH:MM'),
    starts_at: z.string().describe('UTC instant'),
    ends_at: z.string().describe('UTC instant'),
    type: z.string(),
    status: z.string(),
  })),
  total_appointments: z.number().int(),
  available_slots: z.number().int().describe('Free slots of the requested duration (default 30) from now on'),
});

export const dayScheduleSchema = z.object({ doctor_id: z.string(), doctor_name: z.string(), time_zone: z.string() }).extend(scheduleDaySchema.shape);
export const weekScheduleSchema = z.object({
  doctor_id: z.string(), doctor_name: z.string(), time_zone: z.string(),
  start_date: z.string(), end_date: z.string(), days: z.array(scheduleDaySchema),
  total_appointments: z.number().int(), available_slots: z.number().int(),
});

function presentDay(day: ScheduleDay): z.infer<typeof scheduleDaySchema> {
  return {
    date: day.date,
    working_hours: day.workingHours,
    appointments: day.appointments.map((a) => ({
      id: a.id, patient_id: a.patientId, patient_name: a.patientName, start_time: a.localStart, end_time: a.localEnd,
      starts_at: a.startTime.toISOString(), ends_at: a.endTime.toISOString(), type: a.type, status: a.status,
    })),
    total_appointments: day.appointments.length,
    available_slots: day.availableSlots,
  };
}

export function presentSchedule(doctor: Doctor, zone: string, days: ScheduleDay[], week: boolean): z.infer<typeof dayScheduleSchema> | z.infer<typeof weekScheduleSchema> {
  const head = { doctor_id: doctor.id, doctor_name: doctor.name, time_zone: zone };
  if (!week) return { ...head, ...presentDay(days[0]) };
  const presented = days.map(presentDay);
  return {
    ...head, start_date: days[0].date, end_date: days[days.length - 1].date, days: presented,
    total_appointments: presented.reduce((n, d) => n + d.total_appointments, 0),
    available_slots: presented.reduce((n, d) => n + d.available_slots, 0),
  };
}

export const availableSlotsSchema = z.object({
  doctor_id: z.string().nullable().describe('The doctor asked for; null when searching by specialization'),
  doctor_name: z.string().nullable(),
  specialization: z.string().nullable(),
  date: z.string(),
  duration_minutes: z.number().int(),
  available_slots: z.array(z.object({
    start_time: z.string().describe('UTC instant'),
    end_time: z.string(),
    local_time: z.string().describe('Local HH:MM in the doctor\'s zone'),
    doctor_id: z.string(),
    doctor_name: z.string(),
  })),
  total_slots: z.number().int(),
});

export function presentSlots(slots: AvailableSlot[], head: { doctorId: string | null; doctorName: string | null; specialization: string | null; date: string; durationMinutes: number }): z.infer<typeof availableSlotsSchema> {
  return {
    doctor_id: head.doctorId,
    doctor_name: head.doctorName,
    specialization: head.specialization,
    date: head.date,
    duration_minutes: head.durationMinutes,
    available_slots: slots.map((s) => ({
      start_time: s.startTime.toISOString(), end_time: s.endTime.toISOString(), local_time: s.localTime, doctor_id: s.doctorId, doctor_name: s.doctorName,
    })),
    total_slots: slots.length,
  };
}
