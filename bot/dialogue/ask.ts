/** The question of each step, rebuilt from the state so it can be asked again in any language. */
import type { ReplyKey } from '../catalog/keys.js';
import { appointmentLabel, askPhone, data, dayLabel, go, label, numbered, say, todayDate, when, type Turn } from './turn.js';
import { addDays } from '../../models/workingHours.js';

const MAIN_MENU: ReplyKey[] = ['opt_book', 'opt_list', 'opt_reschedule', 'opt_cancel', 'opt_person'];
/** Main menu choices in option order. */
export const MENU_INTENTS = ['book', 'list_appointments', 'reschedule', 'cancel', 'handoff'] as const;

export function askMenu(t: Turn, key: 'welcome' | 'menu' = 'menu'): void {
  go(t, 'idle', 'menu', false);
  say(t, key, undefined, numbered(MAIN_MENU.map((k) => label(t, k))));
}

export function askOfferPerson(t: Turn, reason: string, key: ReplyKey = 'offer_person'): void {
  go(t, 'idle', 'offer_person', false);
  data(t).reason = reason;
  say(t, key, undefined, numbered([label(t, 'opt_person'), label(t, 'opt_menu')]));
}

export function askOfferBook(t: Turn): void {
  go(t, 'idle', 'offer_book', false);
  say(t, 'appointments_none', undefined, numbered([label(t, 'opt_book'), label(t, 'opt_menu')]));
}

export function askReminder(t: Turn, appointmentId: string): void {
  go(t, 'idle', 'reminder', false);
  data(t).appointmentId = appointmentId;
  say(t, 'reminder_options', undefined, numbered([label(t, 'opt_confirm'), label(t, 'opt_reschedule'), label(t, 'opt_cancel')]));
}

/** Specializations first when the clinic has several, otherwise its doctors (of the chosen specialization). */
export function askDoctor(t: Turn): void {
  const d = data(t);
  t.s.step = 'choose_doctor';
  if (!d.specialization && t.ctx.specializations.length > 1) {
    d.choiceKind = 'specialization';
    d.choices = [...t.ctx.specializations];
    say(t, 'ask_specialty', undefined, numbered(d.choices));
    return;
  }
  const doctors = t.ctx.doctors.filter((doc) => !d.specialization || doc.specialization === d.specialization);
  d.choiceKind = 'doctor';
  d.choices = doctors.map((doc) => doc.id);
  say(t, 'ask_doctor', undefined, numbered(doctors.map((doc) => doc.name)));
}

export function askDay(t: Turn, key: ReplyKey = 'ask_day'): void {
  const d = data(t);
  t.s.step = 'ask_day';
  const first = todayDate(t);
  d.days = [0, 1, 2, 3, 4].map((n) => addDays(first, n));
  say(t, key, undefined, numbered(d.days.map((day) => dayLabel(t, day))));
}

export function offerSlots(t: Turn, key: ReplyKey = 'offer_slots'): void {
  const d = data(t);
  t.s.step = 'choose_slot';
  const offered = d.offered ?? [];
  const labels = offered.map((s) => (d.doctorId ? when(t, s.startTime) : appointmentLabel(t, s)));
  say(t, key, undefined, numbered([...labels, label(t, 'opt_other_day')]));
}

export function askConfirmSlot(t: Turn): void {
  const d = data(t);
  const chosen = d.chosen;
  if (!chosen) return;
  t.s.step = 'confirm';
  const options = numbered([label(t, 'opt_yes'), label(t, 'opt_no')]);
  if (t.s.flow === 'reschedule' && d.appointment) {
    say(t, 'confirm_reschedule', { old_date_time: when(t, d.appointment.startTime), date_time: when(t, chosen.startTime), doctor: chosen.doctorName }, options);
  } else {
    say(t, 'confirm_booking', { date_time: when(t, chosen.startTime), doctor: chosen.doctorName }, options);
  }
}

const CHOOSE_KEY = { cancel: 'choose_cancel', reschedule: 'choose_reschedule', confirm: 'choose_confirm' } as const;

export function askChooseAppointment(t: Turn): void {
  const flow = t.s.flow;
  if (flow !== 'cancel' && flow !== 'reschedule' && flow !== 'confirm') return;
  t.s.step = 'choose';
  say(t, CHOOSE_KEY[flow], undefined, numbered((data(t).appointments ?? []).map((a) => appointmentLabel(t, a))));
}

export function askConfirmCancel(t: Turn): void {
  const a = data(t).appointment;
  if (!a) return;
  t.s.step = 'confirm';
  say(t, 'confirm_cancel', { date_time: when(t, a.startTime), doctor: a.doctorName }, numbered([label(t, 'opt_yes'), label(t, 'opt_keep')]));
}

/** Asks the current step's question again (after "sorry?", help, or a language switch). */
export function reask(t: Turn): void {
  const { flow, step } = t.s;
  if (flow === 'identify') return step === 'ask_phone' ? askPhone(t) : say(t, 'ask_name');
  if (step === 'offer_person') return askOfferPerson(t, data(t).reason ?? 'repeated');
  if (step === 'offer_book') return askOfferBook(t);
  if (step === 'reminder') return askReminder(t, data(t).appointmentId ?? '');
  if (step === 'choose_doctor') return askDoctor(t);
  if (step === 'ask_day') return askDay(t);
  if (step === 'choose_slot') return offerSlots(t);
  if (step === 'confirm') return flow === 'cancel' ? askConfirmCancel(t) : askConfirmSlot(t);
  if (step === 'choose') return askChooseAppointment(t);
  askMenu(t);
}
