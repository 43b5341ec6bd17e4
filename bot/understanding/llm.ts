/**
 * Understanding through an OpenAI-compatible model. The model only classifies:
 * it answers with one `classify_message` tool call whose arguments are checked
 * like any input, and the dialogue then acts through the same domain
 * operations as with rules. Nothing the model writes reaches a patient, so it
 * cannot give medical advice. Emergencies and opt-outs are always decided by
 * the rules, and a failed, slow or malformed call falls back to the rules
 * within the same turn.
 */
import OpenAI from 'openai';
import { z } from 'zod';
import { toE164InZone } from '../../lib/phone.js';
import { INFO_TOPICS, type Understander, type Understanding, type UnderstandContext, type Intent, type HandoffCategory, type Lang } from './types.js';

const INTENTS = ['greet', 'book', 'list_appointments', 'cancel', 'reschedule', 'confirm', 'handoff', 'help', 'menu', 'affirm', 'deny', 'thanks', 'choose', 'provide_info', 'clinic_info', 'unknown'] as const satisfies readonly Intent[];
const CATEGORIES = ['human', 'billing', 'results', 'complaint', 'late', 'medical', 'other'] as const satisfies readonly HandoffCategory[];
const LANGS = ['en', 'es', 'ca', 'hi'] as const satisfies readonly Lang[];

const argsSchema = z.object({
  intent: z.enum(INTENTS),
  language: z.enum(LANGS).nullable().optional(),
  choice: z.number().int().min(0).max(20).nullable().optional(),
  date: z.iso.date().nullable().optional(),
  from_date: z.iso.date().nullable().optional(),
  part_of_day: z.enum(['morning', 'afternoon', 'evening']).nullable().optional(),
  time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/).nullable().optional(),
  specialization: z.string().nullable().optional(),
  doctor_id: z.string().nullable().optional(),
  handoff_category: z.enum(CATEGORIES).nullable().optional(),
  info_topics: z.array(z.enum(INFO_TOPICS as ['address', 'hours', 'phone'])).max(3).nullable().optional(),
  name: z.string().max(120).nullable().optional(),
  phone: z.string().max(32).nullable().optional(),
});

export const CLASSIFY_TOOL = {
  type: 'function' as const,
  function: {
    name: 'classify_message',
    description: 'Classify one message a patient sent to a clinic assistant. Never answer the patient.',
    parameters: z.toJSONSchema(argsSchema) as Record<string, unknown>,
  },
};

export interface LlmOptions {
  client: OpenAI;
  model: string;
  timeoutMs: number;
  /** The rules: consulted first for safety words, and the answer whenever the model fails. */
  rules: Understander;
  onFallback?: (reason: string) => void;
}

function systemPrompt(ctx: UnderstandContext): string {
  const doctors = ctx.doctors.map((d) => `${d.id}: ${d.name} (${d.specialization})`).join('; ');
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: ctx.timeZone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'long' }).format(ctx.now);
  return [
    'You classify messages that patients send to a medical clinic\'s booking assistant.',
    'Call classify_message exactly once. Do not write any other text and never give medical advice.',
    `Today is ${today} in the clinic's time zone ${ctx.timeZone}; resolve relative dates ("tomorrow", "next Tuesday", "mañana", "demà", "kal") to YYYY-MM-DD.`,
    'For a reschedule, date is the new day; from_date is the day of the appointment to move, only when the patient names it.',
    'Languages: en, es, ca, hi (Hindi, in Devanagari or romanized).',
    `Specializations: ${ctx.specializations.join(', ') || 'none'}. Doctors: ${doctors || 'none'}. Use only these exact values.`,
    'intent "handoff" when the patient wants a person or raises billing or prices, test results, a complaint, being late for an appointment, or prescriptions, medication or symptoms (set handoff_category).',
    'intent "choose" with choice=N when the message picks option N of a numbered list.',
    'intent "clinic_info" when the patient asks where the clinic is, when it is open or its phone number (set info_topics: address, hours, phone).',
  ].join('\n');
}

export class LlmUnderstander implements Understander {
  constructor(private readonly opts: LlmOptions) {}

  async understand(text: string, ctx: UnderstandContext): Promise<Understanding> {
    const ruled = await this.opts.rules.understand(text, ctx);
    if (ruled.intent === 'emergency' || ruled.intent === 'opt_out' || ruled.intent === 'opt_in') return ruled;
    try {
      const completion = await this.opts.client.chat.completions.create(
        {
          model: this.opts.model,
          temperature: 0,
          messages: [
            { role: 'system', content: systemPrompt(ctx) },
            { role: 'user', content: text.slice(0, 2000) },
          ],
          tools: [CLASSIFY_TOOL],
          tool_choice: { type: 'function', function: { name: 'classify_message' } },
        },
        { timeout: this.opts.timeoutMs, maxRetries: 0 },
      );
      const call = completion.choices[0]?.message?.tool_calls?.find((c) => c.type === 'function' && c.function.name === 'classify_message');
      if (!call || call.type !== 'function') return this.fallback(ruled, 'no tool call');
      const parsed = argsSchema.safeParse(JSON.parse(call.function.arguments));
      if (!parsed.success) return this.fallback(ruled, 'invalid tool arguments');
      return this.toUnderstanding(parsed.data, ctx, ruled);
    } catch (err) {
      return this.fallback(ruled, err instanceof OpenAI.APIConnectionTimeoutError ? 'timeout' : err instanceof OpenAI.APIError ? `api error ${err.status ?? ''}`.trim() : 'unreachable or malformed');
    }
  }

  private fallback(ruled: Understanding, reason: string): Understanding {
    this.opts.onFallback?.(reason);
    return ruled;
  }

  /** Keeps only values the clinic actually has: a hallucinated doctor id is dropped, not trusted. */
  private toUnderstanding(a: z.infer<typeof argsSchema>, ctx: UnderstandContext, ruled: Understanding): Understanding {
    const u: Understanding = { intent: a.intent, language: a.language ?? ruled.language };
    if (a.choice != null) u.choice = a.choice;
    if (a.date) u.date = a.date;
    if (a.from_date && u.intent === 'reschedule') u.fromDate = a.from_date;
    if (a.part_of_day) u.partOfDay = a.part_of_day;
    if (a.time) u.time = a.time;
    if (a.specialization) {
      const match = ctx.specializations.find((s) => s.toLowerCase() === a.specialization!.toLowerCase());
      if (match) u.specialization = match;
    }
    if (a.doctor_id && ctx.doctors.some((d) => d.id === a.doctor_id)) u.doctorId = a.doctor_id;
    if (a.handoff_category) u.handoffCategory = a.handoff_category;
    if (u.intent === 'clinic_info') u.infoTopics = INFO_TOPICS.filter((topic) => a.info_topics?.includes(topic));
    if (a.name) u.name = a.name;
    if (a.phone && toE164InZone(a.phone, ctx.timeZone)) u.phone = a.phone;
    if (u.intent === 'choose' && u.choice == null) u.choice = ruled.choice;
    return u;
  }
}

/** Builds the LLM understander when OPENAI_API_KEY or OPENAI_BASE_URL is configured. */
export function createLlmUnderstander(config: { apiKey?: string; baseURL?: string; model: string; timeoutMs: number }, rules: Understander, onFallback?: (reason: string) => void): LlmUnderstander | null {
  if (!config.apiKey && !config.baseURL) return null;
  const client = new OpenAI({ apiKey: config.apiKey ?? 'not-needed', baseURL: config.baseURL, maxRetries: 0, timeout: config.timeoutMs });
  return new LlmUnderstander({ client, model: config.model, timeoutMs: config.timeoutMs, rules, onFallback });
}
