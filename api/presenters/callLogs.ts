/** What leaves the API about a phone call (VAANI's call logs): a whitelist. */
import { z } from 'zod';
import { CALL_RECOGNITIONS, CALL_STATUSES, type CallDetail, type CallWithContext } from '../../models/calls.js';
import { iso } from './patients.js';

export const callLogSchema = z.object({
  id: z.string(),
  call_sid: z.string(),
  patient_id: z.string().nullable(),
  patient_name: z.string().nullable(),
  conversation_id: z.string().nullable(),
  direction: z.enum(['inbound', 'outbound']),
  from_number: z.string(),
  to_number: z.string().nullable(),
  status: z.enum(CALL_STATUSES),
  duration_seconds: z.number().int().nullable(),
  turns: z.number().int().describe("How many times the caller spoke or pressed keys and the bot answered"),
  recognition: z.enum(CALL_RECOGNITIONS).describe("Who heard the caller last: Twilio's recognizer (<Gather>) or ours over the Media Stream"),
  summary: z.string().nullable().describe("The conversation's summary (what the bot did)"),
  sentiment: z.string().nullable(),
  started_at: z.string(),
  ended_at: z.string().nullable(),
  created_at: z.string(),
});

const transcriptLineSchema = z.object({
  id: z.string(),
  sender: z.enum(['patient', 'assistant', 'staff', 'system']),
  text: z.string(),
  created_at: z.string(),
});

export const callLogDetailSchema = callLogSchema.extend({
  patient: z.object({ id: z.string(), name: z.string().nullable(), phone: z.string().nullable() }).nullable(),
  transcript: z.string().describe('What the caller and the bot said, one line each ("Caller: ...", "Assistant: ...")'),
  messages: z.array(transcriptLineSchema),
  intents_detected: z.array(z.string()),
  appointment_created: z.string().nullable().describe('The first appointment booked during the call'),
  appointments_created: z.array(z.string()),
});

export function presentCallLog(c: CallWithContext): z.infer<typeof callLogSchema> {
  return {
    id: c.id, call_sid: c.call_sid, patient_id: c.patient_id, patient_name: c.patient_name ?? null, conversation_id: c.conversation_id,
    direction: c.direction, from_number: c.from_number, to_number: c.to_number, status: c.status, duration_seconds: c.duration_seconds,
    turns: c.turns, recognition: c.recognition, summary: c.summary ?? null, sentiment: c.sentiment ?? null,
    started_at: iso(c.started_at)!, ended_at: iso(c.ended_at), created_at: iso(c.created_at)!,
  };
}

const SPEAKER: Record<string, string> = { patient: 'Caller', assistant: 'Assistant', staff: 'Staff', system: 'System' };

export function presentCallLogDetail(c: CallDetail): z.infer<typeof callLogDetailSchema> {
  const messages = c.transcript.map((m) => ({ id: m.id, sender: m.sender, text: m.content, created_at: iso(m.created_at)! }));
  return {
    ...presentCallLog(c),
    patient: c.patient_id ? { id: c.patient_id, name: c.patient_name ?? null, phone: c.patient_phone ?? null } : null,
    transcript: messages.map((m) => `${SPEAKER[m.sender]}: ${m.text.replace(/\s*\n+\s*/g, ' ')}`).join('\n'),
    messages,
    intents_detected: c.intent ? [c.intent] : [],
    appointment_created: c.appointmentIds[0] ?? null,
    appointments_created: c.appointmentIds,
  };
}
