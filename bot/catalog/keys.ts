/** The reply keys every language must translate; `Catalog` makes a missing key a type error. */
export const REPLY_KEYS = [
  'welcome', 'menu', 'ask_name', 'ask_phone', 'invalid_phone', 'nice_to_meet',
  'ask_specialty', 'ask_doctor', 'ask_day', 'offer_slots', 'no_slots_day', 'no_slots_ask_day', 'confirm_booking', 'booked',
  'booking_conflict', 'booking_failed', 'booking_kept_open',
  'appointments_list', 'appointments_none', 'choose_cancel', 'confirm_cancel', 'cancelled', 'cancel_kept', 'cancel_refused',
  'appointment_not_found', 'choose_reschedule', 'confirm_reschedule', 'rescheduled', 'reschedule_refused', 'reschedule_conflict',
  'choose_confirm', 'reminder', 'reminder_options', 'reminder_confirmed',
  'no_medical_advice', 'handoff_told', 'emergency', 'emergency_ticket', 'opted_out', 'opted_in', 'help', 'not_understood', 'offer_person', 'thanks_bye',
  'flow_stopped', 'action_failed',
  'clinic_address', 'clinic_hours', 'clinic_phone', 'clinic_info_missing', 'clinic_info_unknown', 'hours_days', 'hours_closed',
  'opt_book', 'opt_list', 'opt_reschedule', 'opt_cancel', 'opt_person', 'opt_menu', 'opt_yes', 'opt_no', 'opt_other_day',
  'opt_today', 'opt_tomorrow', 'opt_keep', 'opt_confirm', 'share_phone_button',
  'voice_greeting', 'voice_option', 'voice_no_input', 'voice_not_heard', 'voice_goodbye', 'voice_transfer', 'voice_callback',
] as const;

export type ReplyKey = (typeof REPLY_KEYS)[number];
export type Catalog = Record<ReplyKey, string>;
