/** A fake engine for dialogue tests: runs actions against an in-memory clinic and feeds results back as events. */
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { renderText } from '../../bot/catalog/index.js';
import type { ReplyKey } from '../../bot/catalog/keys.js';
import { initialState, step } from '../../bot/dialogue/index.js';
import type { AppointmentSummary, ClinicInfo, DialogueAction, DialogueContext, DialogueEvent, DialogueState, SlotOffer } from '../../bot/dialogue/types.js';
import { understandByRules } from '../../bot/understanding/rules.js';
import type { Lang, Understanding } from '../../bot/understanding/types.js';

export const TZ = 'Europe/Madrid';
/** Tuesday 10 March 2026, 10:00 in Madrid. */
export const NOW = new Date('2026-03-10T09:00:00Z');
export const SPECIALIZATIONS = ['Cardiology', 'Dermatology'];
export const DOCTORS = [
  { id: 'doc_garcia', name: 'Dr. Elena García', specialization: 'Cardiology' },
  { id: 'doc_patel', name: 'Dr. Raj Patel', specialization: 'Dermatology' },
  { id: 'doc_puig', name: 'Dra. Marta Puig', specialization: 'Dermatology' },
];

export function at(date: string, time: string): string {
  return DateTime.fromISO(`${date}T${time}`, { zone: TZ }).toUTC().toISO() ?? '';
}

export function appointment(id: string, date: string, time: string, doctorId = 'doc_garcia'): AppointmentSummary {
  const doctor = DOCTORS.find((d) => d.id === doctorId)!;
  return { id, doctorId, doctorName: doctor.name, startTime: at(date, time), status: 'booked' };
}

export interface Reply { key: ReplyKey; params: Record<string, string | number>; options: string[]; text: string }

const RESULT_ACTIONS = new Set(['find_slots', 'list_appointments', 'book', 'cancel', 'reschedule', 'confirm', 'handoff']);
const TIMES = ['09:00', '09:30', '10:00', '12:30', '16:00', '16:30', '18:00'];

export class Conversation {
  state: DialogueState | null = null;
  patient = { identified: true, name: 'Ana' as string | null, hasPhone: true, optedOut: false };
  channel = { name: 'whatsapp', needsPhone: false };
  clinic: ClinicInfo = {
    address: 'Carrer Major 1, Barcelona', phone: '+34 931 23 45 67',
    openingHours: { monday: ['09:00-14:00', '16:00-20:00'], tuesday: ['09:00-14:00', '16:00-20:00'], wednesday: ['09:00-14:00', '16:00-20:00'],
      thursday: ['09:00-14:00', '16:00-20:00'], friday: ['09:00-14:00'], saturday: ['10:00-13:00'], sunday: [] },
  };
  appointments: AppointmentSummary[] = [];
  /** Dates (YYYY-MM-DD) with no free slot. */
  fullDays = new Set<string>();
  /** Appointment ids the clinic will not let the bot cancel or move (inside the window). */
  locked = new Set<string>();
  conflictsLeft = 0;
  actions: DialogueAction[] = [];
  replies: Reply[] = [];
  turnReplies: Reply[] = [];

  constructor(readonly language: Lang = 'en', patch: Partial<Pick<Conversation, 'patient' | 'channel' | 'clinic'>> = {}) {
    Object.assign(this, patch);
  }

  get ctx(): DialogueContext {
    return {
      now: NOW, timeZone: TZ, patient: { ...this.patient }, channel: this.channel, specializations: SPECIALIZATIONS, doctors: DOCTORS,
      emergencyNumber: '112', location: 'Carrer Major 1, Barcelona', clinic: this.clinic,
      formatDateTime: (iso, lang) => DateTime.fromISO(iso, { zone: TZ }).setLocale(lang).toFormat('ccc d LLL HH:mm'),
    };
  }

  understand(text: string): Understanding {
    return understandByRules(text, { now: NOW, timeZone: TZ, languageHint: this.state?.language ?? this.language, specializations: SPECIALIZATIONS, doctors: DOCTORS });
  }

  /** The patient writes `text`; returns the replies of this turn. */
  say(text: string): Reply[] {
    return this.run({ type: 'message', text, understanding: this.understand(text) });
  }

  reminder(appointmentId: string, text: string): Reply[] {
    return this.run({ type: 'reminder_reply', appointmentId, understanding: this.understand(text) });
  }

  get keys(): ReplyKey[] { return this.turnReplies.map((r) => r.key); }
  get last(): Reply { return this.turnReplies[this.turnReplies.length - 1]!; }
  get lastActions(): DialogueAction[] { return this.turnActions; }
  private turnActions: DialogueAction[] = [];

  run(first: DialogueEvent): Reply[] {
    this.turnReplies = [];
    this.turnActions = [];
    let event: DialogueEvent | null = first;
    for (let guard = 0; event && guard < 20; guard++) {
      const before = JSON.stringify(this.state);
      const frozen = this.state;
      const result = step(this.state, event, this.ctx);
      assert.equal(JSON.stringify(frozen), before, 'step must not mutate the state it is given');
      assert.deepEqual(JSON.parse(JSON.stringify(result.state)), result.state, 'state must be JSON');
      this.state = result.state;
      const effects = result.actions.filter((a) => RESULT_ACTIONS.has(a.type));
      assert.ok(effects.length <= 1, `at most one action with a result per step, got ${effects.map((a) => a.type).join(', ')}`);
      if (effects.length) assert.equal(result.actions[result.actions.length - 1], effects[0], 'the action with a result comes last');
      event = null;
      for (const action of result.actions) {
        this.actions.push(action);
        this.turnActions.push(action);
        event = this.apply(action) ?? event;
      }
    }
    return this.turnReplies;
  }

  private apply(a: DialogueAction): DialogueEvent | null {
    switch (a.type) {
      case 'reply': {
        const lang = this.state!.language;
        const text = renderText(lang, a);
        assert.doesNotMatch(text, /\{\w+\}/, `reply ${a.key} left a placeholder: ${text}`);
        const reply = { key: a.key, params: a.params ?? {}, options: (a.options ?? []).map((o) => o.label), text };
        this.replies.push(reply);
        this.turnReplies.push(reply);
        return null;
      }
      case 'find_slots': return { type: 'slots', slots: this.slots(a) };
      case 'list_appointments': return { type: 'appointments', appointments: this.appointments.map((x) => ({ ...x })) };
      case 'book': {
        if (this.conflictsLeft > 0) { this.conflictsLeft--; return { type: 'book_failed', reason: 'conflict' }; }
        const doctor = DOCTORS.find((d) => d.id === a.doctorId)!;
        const booked = { id: `apt_${this.appointments.length + 1}`, doctorId: a.doctorId, doctorName: doctor.name, startTime: a.startTime, status: 'booked' };
        this.appointments.push(booked);
        return { type: 'booked', appointment: booked };
      }
      case 'cancel': {
        const found = this.appointments.find((x) => x.id === a.appointmentId);
        if (!found) return { type: 'cancel_failed', reason: 'not_found' };
        if (this.locked.has(found.id)) return { type: 'cancel_failed', reason: 'window' };
        found.status = 'cancelled';
        return { type: 'cancelled', appointment: { ...found } };
      }
      case 'reschedule': {
        const found = this.appointments.find((x) => x.id === a.appointmentId);
        if (!found) return { type: 'reschedule_failed', reason: 'not_found' };
        if (this.locked.has(found.id)) return { type: 'reschedule_failed', reason: 'window' };
        if (this.conflictsLeft > 0) { this.conflictsLeft--; return { type: 'reschedule_failed', reason: 'conflict' }; }
        found.startTime = a.startTime;
        return { type: 'rescheduled', appointment: { ...found } };
      }
      case 'confirm': {
        const found = this.appointments.find((x) => x.id === a.appointmentId)!;
        found.status = 'confirmed';
        return { type: 'confirmed', appointment: { ...found } };
      }
      case 'handoff': return { type: 'handed_off', ticketNumber: 'TKT-0042' };
      case 'opt_out': this.patient.optedOut = true; return null;
      case 'opt_in': this.patient.optedOut = false; return null;
      case 'set_patient':
        if (a.name) { this.patient.name = a.name; this.patient.identified = true; }
        if (a.phone) this.patient.hasPhone = true;
        return null;
      case 'set_language': return null;
    }
  }

  /** Free slots: a fixed list of times each day, filtered by part of day, none on full days (all of them: the dialogue chooses what to offer). */
  private slots(a: Extract<DialogueAction, { type: 'find_slots' }>): SlotOffer[] {
    if (this.fullDays.has(a.date)) return [];
    const doctor = DOCTORS.find((d) => d.id === a.doctorId) ?? DOCTORS.find((d) => d.specialization === a.specialization)!;
    const inPart = (time: string) => {
      const h = Number(time.slice(0, 2));
      return !a.partOfDay || (a.partOfDay === 'morning' ? h < 12 : a.partOfDay === 'afternoon' ? h >= 12 && h < 17 : h >= 17);
    };
    return TIMES.filter(inPart)
      .map((time) => ({ doctorId: doctor.id, doctorName: doctor.name, startTime: at(a.date, time), durationMinutes: 30 }));
  }
}

export function actionsOf<T extends DialogueAction['type']>(c: Conversation, type: T): Extract<DialogueAction, { type: T }>[] {
  return c.actions.filter((a): a is Extract<DialogueAction, { type: T }> => a.type === type);
}

/** Starts a conversation in `lang` whose state already speaks it. */
export function talk(lang: Lang, patch: ConstructorParameters<typeof Conversation>[1] = {}): Conversation {
  const c = new Conversation(lang, patch);
  c.state = initialState(lang);
  return c;
}
