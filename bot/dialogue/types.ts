/** The dialogue's inputs and outputs: state, events fed by the engine, actions the engine runs. */
import type { ReplyKey } from '../catalog/keys.js';
import type { HandoffCategory, Lang, PartOfDay, Understanding } from '../understanding/types.js';
import type { WorkingHours } from '../../models/workingHours.js';

export type Flow = 'idle' | 'identify' | 'book' | 'cancel' | 'reschedule' | 'confirm' | 'handoff';

export interface DialogueState {
  flow: Flow;
  step: string;
  language: Lang;
  /** Consecutive messages not understood; the third one offers a person. */
  misunderstood: number;
  /** JSON-serializable flow data: chosen doctor, date, offered slots, the appointment at hand. */
  data: Record<string, unknown>;
}

export interface SlotOffer { doctorId: string; doctorName: string; startTime: string; durationMinutes: number }
export interface AppointmentSummary { id: string; doctorId: string; doctorName: string; startTime: string; status: string }

export type DialogueEvent =
  | { type: 'message'; text: string; understanding: Understanding }
  /** The patient answered a reminder: 1 confirm, 2 reschedule, 3 cancel, or words. */
  | { type: 'reminder_reply'; appointmentId: string; understanding: Understanding }
  | { type: 'slots'; slots: SlotOffer[] }
  | { type: 'appointments'; appointments: AppointmentSummary[] }
  | { type: 'booked'; appointment: AppointmentSummary }
  | { type: 'book_failed'; reason: 'conflict' | 'outside_hours' | 'past' | 'invalid' }
  | { type: 'cancelled'; appointment: AppointmentSummary }
  | { type: 'cancel_failed'; reason: 'window' | 'not_found' | 'invalid' }
  | { type: 'rescheduled'; appointment: AppointmentSummary }
  | { type: 'reschedule_failed'; reason: 'window' | 'conflict' | 'not_found' | 'invalid' }
  | { type: 'confirmed'; appointment: AppointmentSummary }
  | { type: 'handed_off'; ticketNumber: string };

export interface ReplyOption { value: string; label: string }
export type HandoffPriority = 'low' | 'medium' | 'high' | 'urgent';

export type DialogueAction =
  /** `asks: 'phone'`: the reply asks for the patient's phone number (a channel may offer a share-my-number control). */
  | { type: 'reply'; key: ReplyKey; params?: Record<string, string | number>; options?: ReplyOption[]; asks?: 'phone' }
  | { type: 'find_slots'; doctorId?: string; specialization?: string; date: string; partOfDay?: PartOfDay }
  | { type: 'list_appointments' }
  | { type: 'book'; doctorId: string; startTime: string; durationMinutes: number }
  | { type: 'cancel'; appointmentId: string }
  /** Atomic on the engine side: the old appointment is released only if the new one is booked. */
  | { type: 'reschedule'; appointmentId: string; doctorId: string; startTime: string; durationMinutes: number }
  | { type: 'confirm'; appointmentId: string }
  | { type: 'handoff'; category: HandoffCategory | 'emergency'; priority: HandoffPriority; summary: string }
  | { type: 'opt_out' }
  | { type: 'opt_in' }
  | { type: 'set_language'; language: Lang }
  | { type: 'set_patient'; name?: string; phone?: string };

export interface DialogueContext {
  now: Date;
  timeZone: string;
  patient: { identified: boolean; name: string | null; hasPhone: boolean; optedOut: boolean };
  channel: { name: string; needsPhone: boolean };
  specializations: string[];
  doctors: { id: string; name: string; specialization: string }[];
  emergencyNumber: string;
  /** The clinic's address for the booking confirmation; the line is left out when absent. */
  location?: string;
  /** What the bot tells a patient who asks about the clinic; null: not known, and a person is offered. */
  clinic: ClinicInfo;
  formatDateTime(iso: string, lang: Lang): string;
}

export interface ClinicInfo {
  address: string | null;
  /** As people write it ("+34 931 23 45 67"). */
  phone: string | null;
  openingHours: Partial<WorkingHours> | null;
}

export interface StepResult { state: DialogueState; actions: DialogueAction[] }
