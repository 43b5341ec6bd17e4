/** One turn of the dialogue: a working copy of the state, the actions so far, and small helpers. */
import { DateTime } from 'luxon';
import { memoByKey } from '../../lib/memo.js';
import { localDate as zonedDate, localTime as zonedTime } from '../../models/workingHours.js';
import { render } from '../catalog/index.js';
import { formatDay } from '../format.js';
import type { ReplyKey } from '../catalog/keys.js';
import type { Lang, PartOfDay } from '../understanding/types.js';
import type { AppointmentSummary, DialogueAction, DialogueContext, DialogueState, Flow, ReplyOption, SlotOffer } from './types.js';

/** What the flows keep in `state.data`; every field is JSON. */
export interface FlowData {
  doctorId?: string;
  specialization?: string;
  date?: string;
  partOfDay?: PartOfDay;
  time?: string;
  /** Dates offered as numbered options at the "which day" question. */
  days?: string[];
  /** Specializations or doctor ids offered at the "which specialty" question. */
  choices?: string[];
  choiceKind?: 'specialization' | 'doctor';
  offered?: SlotOffer[];
  chosen?: SlotOffer;
  /** Days searched past the requested one when it had no free slot. */
  extraDays?: number;
  searchDate?: string;
  conflict?: boolean;
  appointments?: AppointmentSummary[];
  appointment?: AppointmentSummary;
  appointmentId?: string;
  /** Rescheduling: the day of the appointment to move, when the request named it. */
  fromDate?: string;
  pending?: Pending;
  /** Why the bot offers a person (for the handoff summary). */
  reason?: string;
}

/** The request an identification question interrupted, resumed once the patient is identified. */
export interface Pending {
  intent: 'book' | 'list_appointments' | 'cancel' | 'reschedule' | 'confirm';
  date?: string; partOfDay?: PartOfDay; time?: string; specialization?: string; doctorId?: string; appointmentId?: string;
  /** "As soon as possible": the search starts today. */
  soonest?: boolean;
  /** Rescheduling: the day of the appointment to move, when the request named it ("my Monday appointment"). */
  fromDate?: string;
}

export interface Turn {
  s: DialogueState;
  ctx: DialogueContext;
  actions: DialogueAction[];
  /** The last patient text, for handoff summaries. */
  text: string;
  /** Set once identification finished in this turn, before the context knows about it. */
  identified: boolean;
}

export function data(t: Turn): FlowData {
  return t.s.data as FlowData;
}

/** Moves to a flow step; `keep` false starts the flow's data afresh. */
export function go(t: Turn, flow: Flow, step: string, keep = true): void {
  t.s.flow = flow;
  t.s.step = step;
  if (!keep) t.s.data = {};
}

export function say(t: Turn, key: ReplyKey, params?: Record<string, string | number>, options?: ReplyOption[]): void {
  const action: DialogueAction = { type: 'reply', key };
  if (params) action.params = params;
  if (options?.length) action.options = options;
  t.actions.push(action);
}

/** The phone question (or its repetition, `invalid_phone`): a reply that asks for the patient's number. */
export function askPhone(t: Turn, key: 'ask_phone' | 'invalid_phone' = 'ask_phone'): void {
  t.actions.push({ type: 'reply', key, asks: 'phone' });
}

export function label(t: Turn, key: ReplyKey): string {
  return render(t.s.language, key);
}

/** Numbered options "1".."n", so a number works on every channel. */
export function numbered(labels: string[]): ReplyOption[] {
  return labels.map((l, i) => ({ value: String(i + 1), label: l }));
}

export function when(t: Turn, iso: string): string {
  return t.ctx.formatDateTime(iso, t.s.language);
}

/** Today's date (YYYY-MM-DD) in the clinic's zone. */
export function todayDate(t: Turn): string {
  return zonedDate(t.ctx.now, t.ctx.timeZone);
}

/** "Today", "Tomorrow", or a localized weekday and date. */
export function dayLabel(t: Turn, isoDate: string): string {
  const diff = Math.round((Date.parse(`${isoDate}T00:00:00Z`) - Date.parse(`${todayDate(t)}T00:00:00Z`)) / 86_400_000);
  if (diff === 0) return label(t, 'opt_today');
  if (diff === 1) return label(t, 'opt_tomorrow');
  return longDayName(`${isoDate}|${t.s.language}`);
}

/** Written as the offered times write their day ("Friday 27 November, 10:00"). */
const longDayName = memoByKey(5_000, (key) => {
  const [isoDate, lang] = key.split('|');
  return formatDay(isoDate!, lang as Lang);
});

const INACTIVE = new Set(['cancelled', 'canceled', 'completed', 'no_show', 'rescheduled']);

/** Appointments still ahead and active, soonest first. */
export function upcoming(t: Turn, list: AppointmentSummary[]): AppointmentSummary[] {
  return list
    .filter((a) => !INACTIVE.has(a.status) && Date.parse(a.startTime) >= t.ctx.now.getTime())
    .sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
}

export function appointmentLabel(t: Turn, a: { startTime: string; doctorName: string }): string {
  return `${when(t, a.startTime)} — ${a.doctorName}`;
}

/** The local calendar date of an ISO instant in the clinic's zone. */
export function localDate(t: Turn, iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? '' : zonedDate(ms, t.ctx.timeZone);
}

export function localTime(t: Turn, iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? DateTime.fromISO(iso, { zone: t.ctx.timeZone }).toFormat('HH:mm') : zonedTime(ms, t.ctx.timeZone);
}
