/** The pure dialogue step: (state, event, context) -> (new state, actions). */
import type { HandoffCategory, Lang, Understanding } from '../understanding/types.js';
import { askMenu, askOfferPerson, askReminder, MENU_INTENTS, reask } from './ask.js';
import { onAppointmentResult, onAppointments, onBooked, onChooseAppointment, onConfirmCancel, onDoctorAnswer, onRescheduleFailed, startAppointments, startBook } from './flows.js';
import { onConfirmSlotAnswer, onDayAnswer, onSlotAnswer, onSlotFailed, onSlots } from './slots.js';
import { askPhone, data, go, say, type Pending, type Turn } from './turn.js';
import { answerClinicInfo } from './clinicInfo.js';
import type { DialogueContext, DialogueEvent, DialogueState, HandoffPriority, StepResult } from './types.js';

/** Consecutive misunderstandings before a person is offered. */
export const MISUNDERSTOOD_LIMIT = 3;
const SUMMARY_TEXT_LIMIT = 140;
const PRIORITY: Record<HandoffCategory | 'emergency', HandoffPriority> = {
  emergency: 'urgent', complaint: 'high', late: 'high', billing: 'medium', results: 'medium', medical: 'medium', human: 'medium', other: 'medium',
};

export function initialState(lang: Lang): DialogueState {
  return { flow: 'idle', step: 'menu', language: lang, misunderstood: 0, data: {} };
}

/** Runs one event; never mutates `state`. At most one action that produces a result event is emitted, and it comes last. */
export function step(state: DialogueState | null, event: DialogueEvent, ctx: DialogueContext): StepResult {
  const lang = state?.language ?? ('understanding' in event ? event.understanding.language : null) ?? 'en';
  const s: DialogueState = state ? structuredClone(state) : initialState(lang);
  const t: Turn = { s, ctx, actions: [], text: event.type === 'message' ? event.text : '', identified: false };
  switch (event.type) {
    case 'message': onMessage(t, event.understanding); break;
    case 'reminder_reply': onReminderReply(t, event.appointmentId, event.understanding); break;
    default: onResult(t, event);
  }
  return { state: t.s, actions: t.actions };
}

function handoff(t: Turn, category: HandoffCategory | 'emergency', why: string): void {
  const excerpt = t.text.replace(/\s+/g, ' ').trim().slice(0, SUMMARY_TEXT_LIMIT);
  const summary = `${category}: ${why} (flow ${t.s.flow}/${t.s.step}, language ${t.s.language})${excerpt ? `. Last message: "${excerpt}"` : ''}`;
  go(t, 'handoff', category === 'emergency' ? 'emergency' : 'waiting', false);
  t.actions.push({ type: 'handoff', category, priority: PRIORITY[category], summary });
}

function emergency(t: Turn): void {
  say(t, 'emergency', { emergency_number: t.ctx.emergencyNumber });
  handoff(t, 'emergency', 'emergency words in the message');
}

/** Commands that work in every step; returns true when the message was handled. */
function global(t: Turn, u: Understanding): boolean {
  if (u.intent === 'emergency') { emergency(t); return true; }
  if (u.intent === 'opt_out') {
    say(t, 'opted_out');
    t.actions.push({ type: 'opt_out' });
    go(t, 'idle', 'done', false);
    return true;
  }
  if (u.intent === 'opt_in') {
    if (!t.ctx.patient.optedOut) { askMenu(t, 'welcome'); return true; }
    t.actions.push({ type: 'opt_in' });
    say(t, 'opted_in');
    askMenu(t);
    return true;
  }
  if (u.intent === 'handoff') {
    if (u.handoffCategory === 'medical') say(t, 'no_medical_advice');
    handoff(t, u.handoffCategory ?? 'human', 'the patient asked for it');
    return true;
  }
  if (u.intent === 'menu') { askMenu(t); return true; }
  return false;
}

function needsIdentity(t: Turn): { name: boolean; phone: boolean } {
  if (t.identified) return { name: false, phone: false };
  const p = t.ctx.patient;
  return { name: !p.identified || !p.name, phone: t.ctx.channel.needsPhone && !p.hasPhone };
}

/** Starts a flow, asking who the patient is first when needed; the request resumes afterwards. */
function start(t: Turn, p: Pending): void {
  const need = needsIdentity(t);
  if (need.name || need.phone) {
    go(t, 'identify', need.name ? 'ask_name' : 'ask_phone', false);
    data(t).pending = p;
    if (need.name) say(t, 'ask_name'); else askPhone(t);
    return;
  }
  if (p.intent === 'book') return startBook(t, p);
  const flow = p.intent === 'list_appointments' ? 'list' : p.intent;
  startAppointments(t, flow, p);
}

function pendingFrom(intent: Pending['intent'], u: Understanding, appointmentId?: string): Pending {
  const p: Pending = { intent };
  for (const key of ['date', 'soonest', 'partOfDay', 'time', 'specialization', 'doctorId', 'fromDate'] as const) if (u[key]) Object.assign(p, { [key]: u[key] });
  if (appointmentId) p.appointmentId = appointmentId;
  return p;
}

/** A bare name: letters only, one to five words, not a number or a known command. */
function looksLikeName(text: string, u: Understanding): string | undefined {
  if (u.name) return u.name;
  if (!['unknown', 'provide_info', 'greet'].includes(u.intent) || u.date || u.phone) return undefined;
  const name = text.trim().replace(/\s+/g, ' ');
  return /^[\p{L}\p{M}][\p{L}\p{M}'’. -]{1,59}$/u.test(name) && name.split(' ').length <= 5 ? name : undefined;
}

function onIdentify(t: Turn, u: Understanding): boolean {
  const d = data(t);
  const pending = d.pending ?? { intent: 'book' };
  if (t.s.step === 'ask_name') {
    const name = looksLikeName(t.text, u);
    if (!name) return false;
    const needPhone = t.ctx.channel.needsPhone && !t.ctx.patient.hasPhone && !u.phone;
    t.actions.push({ type: 'set_patient', name, ...(u.phone ? { phone: u.phone } : {}) });
    say(t, 'nice_to_meet', { name });
    if (needPhone) { t.s.step = 'ask_phone'; askPhone(t); return true; }
  } else {
    if (!u.phone) {
      if (!['unknown', 'provide_info', 'choose'].includes(u.intent)) return false;
      askPhone(t, 'invalid_phone');
      return true;
    }
    t.actions.push({ type: 'set_patient', phone: u.phone });
  }
  t.identified = true;
  start(t, pending);
  return true;
}

/** The answer to the current question, by flow and step; false when it is not an answer. */
function answer(t: Turn, u: Understanding): boolean {
  const { flow, step: at } = t.s;
  if (flow === 'identify') return onIdentify(t, u);
  if (at === 'choose_doctor') return onDoctorAnswer(t, u);
  if (at === 'ask_day') return onDayAnswer(t, u);
  if (at === 'choose_slot') return onSlotAnswer(t, u);
  if (at === 'confirm') return flow === 'cancel' ? onConfirmCancel(t, u) : onConfirmSlotAnswer(t, u);
  if (at === 'choose') return onChooseAppointment(t, u);
  if (at === 'reminder') return reminderAnswer(t, data(t).appointmentId ?? '', u);
  if (at === 'offer_person') {
    if (u.choice === 1 || u.intent === 'affirm') { handoff(t, 'human', data(t).reason ?? 'offered after repeated misunderstanding'); return true; }
    if (u.choice === 2 || u.intent === 'deny') { askMenu(t); return true; }
    return false;
  }
  if (at === 'offer_book') {
    if (u.choice === 1 || u.intent === 'affirm') { start(t, pendingFrom('book', u)); return true; }
    if (u.choice === 2 || u.intent === 'deny') { askMenu(t); return true; }
    return false;
  }
  if (flow === 'idle' && u.choice !== undefined) {
    const intent = MENU_INTENTS[u.choice - 1];
    if (!intent) return false;
    if (intent === 'handoff') handoff(t, 'human', 'chosen from the menu');
    else start(t, pendingFrom(intent, u));
    return true;
  }
  return false;
}

const STARTERS = ['book', 'list_appointments', 'cancel', 'reschedule', 'confirm'] as const;

/** Intents that begin something new, from any step. */
function starters(t: Turn, u: Understanding): boolean {
  const intent = STARTERS.find((i) => i === u.intent);
  const inFlow = t.s.flow === 'book' || t.s.flow === 'reschedule' || t.s.flow === 'identify';
  // A bare "cancel" while booking means "stop this", not "cancel an appointment".
  if (intent === 'cancel' && inFlow && t.text.trim().split(/\s+/).length <= 2) {
    say(t, 'flow_stopped');
    askMenu(t);
    return true;
  }
  if (intent) { start(t, pendingFrom(intent, u)); return true; }
  // A specialty, doctor or day with nothing else pending is a booking request ("cardiology tomorrow").
  if (t.s.flow === 'idle' && u.intent === 'provide_info' && (u.specialization || u.doctorId || u.date || u.soonest)) {
    start(t, pendingFrom('book', u));
    return true;
  }
  if (u.intent === 'clinic_info') { answerClinicInfo(t, u.infoTopics); return true; }
  if (u.intent === 'help') { say(t, 'help'); reask(t); return true; }
  if (u.intent === 'thanks' || (t.s.step === 'done' && (u.intent === 'affirm' || u.intent === 'deny'))) {
    if (t.s.flow === 'idle') { go(t, 'idle', 'done', false); say(t, 'thanks_bye'); } else reask(t);
    return true;
  }
  if (u.intent === 'greet') {
    if (t.s.flow === 'idle') askMenu(t, 'welcome'); else reask(t);
    return true;
  }
  return false;
}

function misunderstood(t: Turn): void {
  t.s.misunderstood += 1;
  if (t.s.misunderstood >= MISUNDERSTOOD_LIMIT) return askOfferPerson(t, 'the bot did not understand several messages');
  say(t, 'not_understood');
  reask(t);
}

function switchLanguage(t: Turn, u: Understanding): void {
  // Names and phone numbers say nothing about the language the patient prefers.
  if (t.s.flow === 'identify' || !u.language || u.language === t.s.language) return;
  t.s.language = u.language;
  t.actions.push({ type: 'set_language', language: u.language });
}

function onMessage(t: Turn, u: Understanding): void {
  // A message reaching the bot after a handoff means staff gave the conversation back.
  if (t.s.flow === 'handoff') go(t, 'idle', 'menu', false);
  switchLanguage(t, u);
  const before = t.s.misunderstood;
  t.s.misunderstood = 0;
  if (global(t, u) || answer(t, u) || starters(t, u)) return;
  t.s.misunderstood = before;
  misunderstood(t);
}

function reminderAnswer(t: Turn, appointmentId: string, u: Understanding): boolean {
  if (u.choice === 1 || u.intent === 'affirm' || u.intent === 'confirm') {
    go(t, 'confirm', 'confirming', false);
    t.actions.push({ type: 'confirm', appointmentId });
    return true;
  }
  if (u.choice === 2 || u.intent === 'reschedule') {
    start(t, pendingFrom('reschedule', u, appointmentId));
    return true;
  }
  if (u.choice === 3 || u.intent === 'cancel') {
    go(t, 'cancel', 'cancelling', false);
    t.actions.push({ type: 'cancel', appointmentId });
    return true;
  }
  return false;
}

function onReminderReply(t: Turn, appointmentId: string, u: Understanding): void {
  if (t.s.flow === 'handoff') go(t, 'idle', 'menu', false);
  switchLanguage(t, u);
  t.s.misunderstood = 0;
  if (global(t, u) || reminderAnswer(t, appointmentId, u)) return;
  // Anything else about a reminder gets its three options again; "no" usually means "I can't come".
  askReminder(t, appointmentId);
}

/** Results of the engine's actions; a result the current step is not waiting for is ignored. */
function onResult(t: Turn, e: Exclude<DialogueEvent, { type: 'message' | 'reminder_reply' }>): void {
  const { flow, step: at } = t.s;
  switch (e.type) {
    case 'slots': if (at === 'searching') onSlots(t, e.slots); return;
    case 'appointments': if (at === 'loading' || at === 'listing') onAppointments(t, e.appointments); return;
    case 'booked': if (flow === 'book') onBooked(t, e.appointment); return;
    case 'book_failed': if (flow === 'book') onSlotFailed(t, e.reason); return;
    case 'cancelled': case 'cancel_failed': if (flow === 'cancel') onAppointmentResult(t, e); return;
    case 'confirmed': if (flow === 'confirm') onAppointmentResult(t, e); return;
    case 'rescheduled': if (flow === 'reschedule') onAppointmentResult(t, e); return;
    case 'reschedule_failed': if (flow === 'reschedule' && onRescheduleFailed(t, e.reason) === 'retry') onSlotFailed(t, e.reason); return;
    case 'handed_off':
      if (flow !== 'handoff') return;
      if (at === 'emergency') say(t, 'emergency_ticket', { ticket: e.ticketNumber, emergency_number: t.ctx.emergencyNumber });
      else say(t, 'handoff_told', { ticket: e.ticketNumber });
      go(t, 'handoff', 'done', false);
  }
}
