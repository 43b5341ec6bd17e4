/** Day, slot and confirmation steps shared by booking and rescheduling. */
import type { Understanding } from '../understanding/types.js';
import { askConfirmSlot, askDay, offerSlots } from './ask.js';
import { data, dayLabel, localTime, say, todayDate, type Turn } from './turn.js';
import { addDays } from '../../models/workingHours.js';
import type { SlotOffer } from './types.js';

export const SLOT_LIMIT = 5;
/** When the asked day is full, this many following days are searched before asking for another day. */
export const EXTRA_DAYS = 3;

function partFromTime(time: string): 'morning' | 'afternoon' | 'evening' {
  const hour = Number(time.slice(0, 2));
  return hour < 12 ? 'morning' : hour < 17 ? 'afternoon' : 'evening';
}

/** Emits find_slots for one day, with the doctor (or specialization) and part of day chosen so far. */
function findSlots(t: Turn, date: string): void {
  const d = data(t);
  d.searchDate = date;
  t.s.step = 'searching';
  const partOfDay = d.partOfDay ?? (d.time ? partFromTime(d.time) : undefined);
  t.actions.push({
    type: 'find_slots', date,
    ...(d.doctorId ? { doctorId: d.doctorId } : d.specialization ? { specialization: d.specialization } : {}),
    ...(partOfDay ? { partOfDay } : {}),
  });
}

/** Starts a search on `date`; a past date is not understood. */
export function search(t: Turn, u: Pick<Understanding, 'date' | 'partOfDay' | 'time'>): boolean {
  if (!u.date || u.date < todayDate(t)) return false;
  const d = data(t);
  d.date = u.date;
  if (u.partOfDay) d.partOfDay = u.partOfDay; else delete d.partOfDay;
  if (u.time) d.time = u.time; else delete d.time;
  d.extraDays = 0;
  delete d.conflict;
  findSlots(t, u.date);
  return true;
}

export function onDayAnswer(t: Turn, u: Understanding): boolean {
  const d = data(t);
  if (u.date) return search(t, u);
  // "As soon as possible": from today on (a full day moves the search to the next ones).
  if (u.soonest) return search(t, { date: todayDate(t), partOfDay: u.partOfDay ?? d.partOfDay, time: u.time ?? d.time });
  const days = d.days ?? [];
  if (u.choice !== undefined && u.choice >= 1 && u.choice <= days.length) {
    return search(t, { date: days[u.choice - 1], partOfDay: u.partOfDay ?? d.partOfDay, time: u.time ?? d.time });
  }
  if (u.partOfDay || u.time) {
    // "in the afternoon" without a day: keep it for the search and ask for the day again.
    if (u.partOfDay) d.partOfDay = u.partOfDay;
    if (u.time) d.time = u.time;
    askDay(t);
    return true;
  }
  return false;
}

/** Puts the slot nearest the asked time first; an exact match skips the list. */
export function onSlots(t: Turn, slots: SlotOffer[]): void {
  const d = data(t);
  if (slots.length > 0) {
    const wanted = d.time;
    const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
    const offered = wanted
      ? [...slots].sort((a, b) => Math.abs(minutes(localTime(t, a.startTime)) - minutes(wanted)) - Math.abs(minutes(localTime(t, b.startTime)) - minutes(wanted)))
      : slots;
    d.offered = offered.slice(0, SLOT_LIMIT);
    const exact = wanted ? d.offered.find((s) => localTime(t, s.startTime) === wanted) : undefined;
    if (exact && !d.conflict) {
      d.chosen = exact;
      askConfirmSlot(t);
      return;
    }
    const key = d.conflict ? (t.s.flow === 'reschedule' ? 'reschedule_conflict' : 'booking_conflict') : 'offer_slots';
    delete d.conflict;
    offerSlots(t, key);
    return;
  }
  const extra = d.extraDays ?? 0;
  if (extra < EXTRA_DAYS && d.searchDate) {
    if (extra === 0) say(t, 'no_slots_day', { date: dayLabel(t, d.searchDate) });
    d.extraDays = extra + 1;
    findSlots(t, addDays(d.searchDate, 1));
    return;
  }
  delete d.conflict;
  askDay(t, 'no_slots_ask_day');
}

export function onSlotAnswer(t: Turn, u: Understanding): boolean {
  const d = data(t);
  const offered = d.offered ?? [];
  if (u.choice !== undefined && u.choice >= 1 && u.choice <= offered.length) {
    d.chosen = offered[u.choice - 1];
    askConfirmSlot(t);
    return true;
  }
  if (u.choice === offered.length + 1 || u.intent === 'deny') {
    askDay(t);
    return true;
  }
  // "Any time is fine", "the earliest": the first time offered.
  if (u.soonest && !u.date && !u.time && offered[0]) {
    d.chosen = offered[0];
    askConfirmSlot(t);
    return true;
  }
  if (u.time && !u.date) {
    const match = offered.find((s) => localTime(t, s.startTime) === u.time);
    if (match) {
      d.chosen = match;
      askConfirmSlot(t);
      return true;
    }
    // A time of the same day that was not among the five offered: look for it (and the times nearest it).
    const day = d.searchDate ?? d.date;
    if (day) return search(t, { date: day, time: u.time });
  }
  if (u.date) return search(t, u);
  return false;
}

/** Yes books (or reschedules); no goes back to the times offered. */
export function onConfirmSlotAnswer(t: Turn, u: Understanding): boolean {
  const d = data(t);
  const chosen = d.chosen;
  if (!chosen) return false;
  const yes = u.intent === 'affirm' || u.intent === 'confirm' || u.choice === 1 || (u.intent === 'book' && t.s.flow === 'book');
  const no = u.intent === 'deny' || u.choice === 2;
  if (yes) {
    if (t.s.flow === 'reschedule' && d.appointment) {
      t.s.step = 'rescheduling';
      t.actions.push({ type: 'reschedule', appointmentId: d.appointment.id, doctorId: chosen.doctorId, startTime: chosen.startTime, durationMinutes: chosen.durationMinutes });
    } else {
      t.s.step = 'booking';
      t.actions.push({ type: 'book', doctorId: chosen.doctorId, startTime: chosen.startTime, durationMinutes: chosen.durationMinutes });
    }
    return true;
  }
  if (no) {
    delete d.chosen;
    if ((d.offered ?? []).length > 0) offerSlots(t, 'booking_kept_open'); else askDay(t);
    return true;
  }
  if (u.date) return search(t, u);
  return false;
}

/** The engine could not book the slot: a taken slot means fresh slots the same day; anything else, another day. */
export function onSlotFailed(t: Turn, reason: string): void {
  const d = data(t);
  delete d.chosen;
  if (reason === 'conflict' && d.date) {
    d.conflict = true;
    d.extraDays = 0;
    findSlots(t, d.date);
    return;
  }
  say(t, 'booking_failed');
  askDay(t);
}
