/** Starting and finishing the flows: booking, listing, cancelling, rescheduling and confirming appointments. */
import type { Understanding } from '../understanding/types.js';
import { askChooseAppointment, askConfirmCancel, askDay, askDoctor, askMenu, askOfferBook, askOfferPerson } from './ask.js';
import { search } from './slots.js';
import { appointmentLabel, data, go, localDate, say, todayDate, upcoming, when, type Turn } from './turn.js';
import type { AppointmentSummary, DialogueEvent } from './types.js';

type Info = Pick<Understanding, 'date' | 'soonest' | 'partOfDay' | 'time' | 'specialization' | 'doctorId'>;

/** The day a request names; "as soon as possible" is today, and a full day moves the search on to the next ones. */
function dayOf(t: Turn, u: Pick<Understanding, 'date' | 'soonest'>): string | undefined {
  return u.date ?? (u.soonest ? todayDate(t) : undefined);
}

/** Booking skips whatever the message already said: the doctor, the specialization, the day. */
export function startBook(t: Turn, u: Info): void {
  go(t, 'book', 'start', false);
  const d = data(t);
  const doctor = t.ctx.doctors.find((doc) => doc.id === u.doctorId);
  if (doctor) {
    d.doctorId = doctor.id;
    d.specialization = doctor.specialization;
  } else if (u.specialization) {
    d.specialization = u.specialization;
    const ofSpec = t.ctx.doctors.filter((doc) => doc.specialization === u.specialization);
    if (ofSpec.length === 1) d.doctorId = ofSpec[0]!.id;
  } else if (t.ctx.doctors.length === 1) {
    d.doctorId = t.ctx.doctors[0]!.id;
    d.specialization = t.ctx.doctors[0]!.specialization;
  }
  // Kept while the doctor is asked for, so "tomorrow afternoon" is still searched once the doctor is chosen.
  const day = dayOf(t, u);
  if (day) d.date = day;
  if (u.partOfDay) d.partOfDay = u.partOfDay;
  if (u.time) d.time = u.time;
  if (!d.doctorId && !d.specialization) return askDoctor(t);
  continueToDay(t, { ...u, date: day });
}

function continueToDay(t: Turn, u: Info): void {
  const d = data(t);
  if (u.date && search(t, { date: u.date, partOfDay: u.partOfDay ?? d.partOfDay, time: u.time ?? d.time })) return;
  askDay(t);
}

/** Accepts a number, a specialization or a doctor's name. */
export function onDoctorAnswer(t: Turn, u: Understanding): boolean {
  const d = data(t);
  const choices = d.choices ?? [];
  let specialization = u.specialization;
  let doctorId = u.doctorId;
  if (!doctorId && !specialization && u.choice !== undefined && u.choice >= 1 && u.choice <= choices.length) {
    if (d.choiceKind === 'doctor') doctorId = choices[u.choice - 1]; else specialization = choices[u.choice - 1];
  }
  if (!doctorId && !specialization) return false;
  const keep = { date: u.date ?? d.date, partOfDay: u.partOfDay ?? d.partOfDay, time: u.time ?? d.time };
  startBook(t, { ...keep, doctorId, specialization });
  return true;
}

export function onBooked(t: Turn, a: AppointmentSummary): void {
  go(t, 'idle', 'done', false);
  say(t, 'booked', { date_time: when(t, a.startTime), doctor: a.doctorName, location: t.ctx.location ?? '' });
}

export type AppointmentFlow = 'list' | 'cancel' | 'reschedule' | 'confirm';

/** Every appointment flow starts by fetching the patient's appointments. */
export function startAppointments(t: Turn, flow: AppointmentFlow, u: Info & { appointmentId?: string; fromDate?: string }): void {
  if (flow === 'list') go(t, 'idle', 'listing', false); else go(t, flow, 'loading', false);
  const d = data(t);
  if (u.appointmentId) d.appointmentId = u.appointmentId;
  if (u.fromDate) d.fromDate = u.fromDate;
  const day = dayOf(t, u);
  if (day) d.date = day;
  if (u.partOfDay) d.partOfDay = u.partOfDay;
  if (u.time) d.time = u.time;
  t.actions.push({ type: 'list_appointments' });
}

export function onAppointments(t: Turn, all: AppointmentSummary[]): void {
  const list = upcoming(t, all);
  if (t.s.step === 'listing') {
    if (list.length === 0) return askOfferBook(t);
    say(t, 'appointments_list', { list: list.map((a) => `• ${appointmentLabel(t, a)}`).join('\n') });
    return askMenu(t);
  }
  const d = data(t);
  if (d.appointmentId) {
    const found = list.find((a) => a.id === d.appointmentId);
    if (!found) {
      say(t, 'appointment_not_found');
      return askMenu(t);
    }
    return select(t, found);
  }
  if (list.length === 0) return askOfferBook(t);
  // The day names the appointment, but a reschedule's day is the new one: its appointment is named by fromDate.
  const day = t.s.flow === 'reschedule' ? d.fromDate : d.date;
  const sameDay = day ? list.filter((a) => localDate(t, a.startTime) === day) : [];
  if (list.length === 1 || sameDay.length === 1) return select(t, sameDay[0] ?? list[0]!);
  d.appointments = list;
  askChooseAppointment(t);
}

export function onChooseAppointment(t: Turn, u: Understanding): boolean {
  const list = data(t).appointments ?? [];
  let chosen: AppointmentSummary | undefined;
  if (u.choice !== undefined && u.choice >= 1 && u.choice <= list.length) chosen = list[u.choice - 1];
  else if (u.date) {
    const sameDay = list.filter((a) => localDate(t, a.startTime) === u.date);
    if (sameDay.length === 1) chosen = sameDay[0];
  } else if (u.doctorId) {
    const byDoctor = list.filter((a) => a.doctorId === u.doctorId);
    if (byDoctor.length === 1) chosen = byDoctor[0];
  }
  if (!chosen) return false;
  select(t, chosen);
  return true;
}

function select(t: Turn, a: AppointmentSummary): void {
  const d = data(t);
  d.appointment = a;
  d.appointmentId = a.id;
  delete d.appointments;
  if (t.s.flow === 'cancel') return askConfirmCancel(t);
  if (t.s.flow === 'confirm') {
    t.s.step = 'confirming';
    t.actions.push({ type: 'confirm', appointmentId: a.id });
    return;
  }
  // Rescheduling keeps the doctor; a day given up front ("move it to Friday") goes straight to the search.
  d.doctorId = a.doctorId;
  const date = d.date;
  delete d.date;
  delete d.fromDate;
  continueToDay(t, { date, partOfDay: d.partOfDay, time: d.time });
}

export function onConfirmCancel(t: Turn, u: Understanding): boolean {
  const a = data(t).appointment;
  if (!a) return false;
  if (u.intent === 'affirm' || u.intent === 'cancel' || u.intent === 'confirm' || u.choice === 1) {
    t.s.step = 'cancelling';
    t.actions.push({ type: 'cancel', appointmentId: a.id });
    return true;
  }
  if (u.intent === 'deny' || u.choice === 2) {
    say(t, 'cancel_kept');
    askMenu(t);
    return true;
  }
  return false;
}

type ResultEvent = Extract<DialogueEvent, { type: 'cancelled' | 'cancel_failed' | 'rescheduled' | 'confirmed' }>;

/** Outcomes of cancel, reschedule (success) and confirm; a refusal inside the clinic's window offers a person. */
export function onAppointmentResult(t: Turn, e: ResultEvent): void {
  if (e.type === 'cancelled') {
    go(t, 'idle', 'done', false);
    return say(t, 'cancelled', { date_time: when(t, e.appointment.startTime), doctor: e.appointment.doctorName });
  }
  if (e.type === 'rescheduled') {
    go(t, 'idle', 'done', false);
    return say(t, 'rescheduled', { date_time: when(t, e.appointment.startTime), doctor: e.appointment.doctorName });
  }
  if (e.type === 'confirmed') {
    go(t, 'idle', 'done', false);
    return say(t, 'reminder_confirmed', { date_time: when(t, e.appointment.startTime) });
  }
  if (e.reason === 'window') return askOfferPerson(t, 'cancel refused inside the cancellation window', 'cancel_refused');
  say(t, e.reason === 'not_found' ? 'appointment_not_found' : 'action_failed');
  askMenu(t);
}

export function onRescheduleFailed(t: Turn, reason: 'window' | 'conflict' | 'not_found' | 'invalid'): 'retry' | 'done' {
  if (reason === 'conflict' || reason === 'invalid') return 'retry';
  if (reason === 'window') askOfferPerson(t, 'reschedule refused inside the change window', 'reschedule_refused');
  else {
    say(t, 'appointment_not_found');
    askMenu(t);
  }
  return 'done';
}
