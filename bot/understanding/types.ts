/** Shared types of the understanding layer: the rules and the LLM understanders both produce an `Understanding`. */

export type Lang = 'en' | 'es' | 'ca' | 'hi';
export const LANGS: readonly Lang[] = ['en', 'es', 'ca', 'hi'];

export type Intent =
  | 'greet' | 'book' | 'list_appointments' | 'cancel' | 'reschedule' | 'confirm' | 'handoff' | 'emergency'
  | 'opt_out' | 'opt_in' | 'help' | 'menu' | 'affirm' | 'deny' | 'thanks' | 'choose' | 'provide_info' | 'clinic_info' | 'unknown';

/** What a `clinic_info` question asks about: where the clinic is, when it is open, how to call it. */
export type InfoTopic = 'address' | 'hours' | 'phone';
export const INFO_TOPICS: readonly InfoTopic[] = ['address', 'hours', 'phone'];

export type HandoffCategory = 'human' | 'billing' | 'results' | 'complaint' | 'late' | 'medical' | 'other';
export type PartOfDay = 'morning' | 'afternoon' | 'evening';

export interface Understanding {
  intent: Intent;
  /** Detected language of this text; null when not sure (e.g. "1", "ok"). */
  language: Lang | null;
  /** 1-based option number; 0 means "main menu". */
  choice?: number;
  /** YYYY-MM-DD in the organization's time zone; in a reschedule request, the new day. */
  date?: string;
  /** A reschedule request naming two days ("move my Monday appointment to Tuesday"): the day of the appointment to move. */
  fromDate?: string;
  partOfDay?: PartOfDay;
  /** "As soon as possible", "any day": the first free time, with no day given. */
  soonest?: boolean;
  /** HH:mm, 24-hour, organization time zone. */
  time?: string;
  /** An entry of ctx.specializations, as spelled there. */
  specialization?: string;
  /** The id of an entry of ctx.doctors. */
  doctorId?: string;
  handoffCategory?: HandoffCategory;
  /** intent clinic_info: the topics asked about, in INFO_TOPICS order. */
  infoTopics?: InfoTopic[];
  name?: string;
  /** As typed; E.164 normalization happens elsewhere. */
  phone?: string;
}

export interface UnderstandContext {
  now: Date;
  timeZone: string;
  languageHint: Lang | null;
  specializations: string[];
  doctors: { id: string; name: string; specialization: string }[];
}

/** Turns one patient message into an `Understanding`; implemented by rules (default) and by an LLM. */
export interface Understander {
  understand(text: string, ctx: UnderstandContext): Promise<Understanding>;
}
