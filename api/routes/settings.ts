/** /settings/organization and /settings/ai (PRM): admin only (settings.manage). */
import { z } from 'zod';
import { route } from '../http/route.js';
import { iso } from '../presenters/patients.js';
import { languageInput, phoneInput, workingHoursInput } from '../schemas/common.js';
import { validateWorkingHours } from '../../models/workingHours.js';
import { isValidTimeZone } from '../../lib/config.js';
import {
  aiSettings, loadOrganization, orgSettings, updateAiSettings, updateOrganizationSettings,
} from '../../models/settings.js';
import type { Organization } from '../../models/organizations.js';
import type { Config } from '../../lib/config.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM (24-hour)');

const e164 = z.string().trim().regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 phone number, e.g. +34931234567');

const clinicSettingsSchema = z.object({
  cancellation_window_hours: z.number().int().min(0).max(720).describe('Patients may cancel up to this many hours before (default 24)'),
  reschedule_window_hours: z.number().int().min(0).max(720).describe('Patients may reschedule up to this many hours before (default 2)'),
  reminder_offsets_minutes: z.array(z.number().int().positive('must be positive integers').max(60 * 24 * 30)).max(5, 'at most 5 reminders')
    .refine((a) => new Set(a).size === a.length, 'must not repeat a value')
    .describe('Minutes before an appointment to remind (default [1440, 120])'),
  quiet_hours: z.object({ start: hhmm, end: hhmm }).strict().nullable()
    .describe('Local times when bulk messages wait (default 21:00-08:00); null disables'),
  default_language: languageInput,
  emergency_number: z.string().trim().regex(/^\+?[0-9]{2,15}$/, 'must be a phone number of 2 to 15 digits').describe('default 112'),
  voice_transfer_number: e164.nullable()
    .describe('Voice: the number a call the bot hands to staff is put through to; null (default): the caller is told the clinic will call back'),
  sms_rate_per_second: z.number().positive().max(1000).nullable().describe('null: the service default'),
  whatsapp_template: z.object({
    name: z.string().max(512).regex(/^[a-z0-9_]+$/, 'must be the approved template name: one or more lowercase letters, digits and _'),
    language: z.string().regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, 'must be a template language code, e.g. es or en_US'),
  }).strict().nullable()
    .describe("An approved WhatsApp utility template whose body is one variable {{1}}: a message outside WhatsApp's 24-hour window goes out as it, its text as the variable; null (default): such messages fail"),
  sms_number: e164.nullable().describe("The clinic's Twilio number for SMS: messages to it reach this organization (409 when another has it)"),
  voice_number: e164.nullable().describe("The clinic's Twilio number for calls (default: sms_number): calls to it reach this organization"),
  whatsapp_phone_number_id: z.string().trim().regex(/^\d{5,20}$/, 'must be the WhatsApp phone number id (digits)').nullable()
    .describe('The WhatsApp Cloud API phone number id whose messages reach this organization'),
  telegram_bot_id: z.string().trim().regex(/^\d{3,15}$/, "must be the bot's numeric id (the token's part before the colon)").nullable()
    .describe('The Telegram bot (its numeric id) whose chats reach this organization'),
  address: z.string().trim().min(1, 'must not be empty; null removes it').max(300).nullable()
    .describe('What the bot tells a patient who asks where the clinic is; null (default): it offers a person instead'),
  contact_phone: phoneInput.nullable()
    .describe('The number the bot gives a patient who asks how to call the clinic; null (default): voice_number, else sms_number'),
  opening_hours: workingHoursInput.transform((v) => validateWorkingHours(v).value).nullable()
    .describe('When the clinic is open, in the doctors\' working_hours format; null (default): the bot tells the hours its active doctors work, together'),
});

const organizationSchema = z.object({
  id: z.string(),
  name: z.string(),
  time_zone: z.string(),
  settings: clinicSettingsSchema,
  created_at: z.string(),
  updated_at: z.string(),
});

function presentOrganization(org: Organization): z.infer<typeof organizationSchema> {
  return { id: org.id, name: org.name, time_zone: org.time_zone, settings: orgSettings(org), created_at: iso(org.created_at)!, updated_at: iso(org.updated_at)! };
}

const organizationPatch = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  time_zone: z.string().max(64).refine(isValidTimeZone, 'must be a valid IANA time zone, e.g. Europe/Madrid'),
  settings: clinicSettingsSchema.partial().strict(),
}).partial().strict();

const aiSchema = z.object({
  enabled: z.boolean(),
  model: z.string().nullable().describe('null: the service default model'),
  effective_model: z.string(),
  temperature: z.number(),
  system_prompt: z.string().nullable(),
  max_retries: z.number().int(),
  auto_suggestions: z.boolean(),
  require_confirmation: z.boolean(),
  api_key_configured: z.boolean().describe('An API key is set for this clinic or the service; the key itself is never returned'),
});

function presentAi(org: Organization, config: Config): z.infer<typeof aiSchema> {
  const ai = aiSettings(org);
  return {
    enabled: ai.enabled, model: ai.model, effective_model: ai.model ?? config.OPENAI_MODEL, temperature: ai.temperature,
    system_prompt: ai.system_prompt, max_retries: ai.max_retries, auto_suggestions: ai.auto_suggestions,
    require_confirmation: ai.require_confirmation, api_key_configured: Boolean(ai.api_key || config.OPENAI_API_KEY),
  };
}

const aiPatch = z.object({
  enabled: z.boolean(),
  model: z.string().trim().min(1).max(100).nullable(),
  temperature: z.number().min(0).max(2),
  system_prompt: z.string().max(8000).nullable(),
  max_retries: z.number().int().min(0).max(10),
  auto_suggestions: z.boolean(),
  require_confirmation: z.boolean(),
  api_key: z.string().trim().min(8).max(500).nullable().describe('Write-only; null removes it'),
}).partial().strict();

const scope = (orgId: string) => ({ organizationId: orgId });

export const settingsRoutes = [
  route({
    method: 'get', path: '/settings/organization', operationId: 'getOrganizationSettings', summary: 'Organization settings', tag: 'settings',
    permission: 'settings.manage', rateLimit: 'admin', response: organizationSchema,
    handler: async ({ deps, orgId }) => ({ data: presentOrganization(await loadOrganization(deps.db.knex, scope(orgId))) }),
  }),
  route({
    method: 'patch', path: '/settings/organization', operationId: 'updateOrganizationSettings', summary: 'Update organization settings', tag: 'settings',
    permission: 'settings.manage', rateLimit: 'admin', aliases: { timezone: 'time_zone' }, body: organizationPatch, response: organizationSchema, errors: [400, 409],
    handler: async ({ deps, orgId, body }) => {
      const settings = body.settings?.reminder_offsets_minutes
        ? { ...body.settings, reminder_offsets_minutes: [...body.settings.reminder_offsets_minutes].sort((a, b) => b - a) }
        : body.settings;
      const org = await deps.db.knex.transaction((trx) => updateOrganizationSettings(trx, scope(orgId), { ...body, settings }));
      return { data: presentOrganization(org), message: 'Settings updated successfully' };
    },
  }),
  route({
    method: 'get', path: '/settings/ai', operationId: 'getAiSettings', summary: 'AI assistant settings', tag: 'settings',
    permission: 'settings.manage', rateLimit: 'admin', response: aiSchema,
    handler: async ({ deps, orgId }) => ({ data: presentAi(await loadOrganization(deps.db.knex, scope(orgId)), deps.config) }),
  }),
  route({
    method: 'patch', path: '/settings/ai', operationId: 'updateAiSettings', summary: 'Update AI assistant settings', tag: 'settings',
    permission: 'settings.manage', rateLimit: 'admin', body: aiPatch, response: aiSchema, errors: [400],
    handler: async ({ deps, orgId, body }) => {
      const org = await deps.db.knex.transaction((trx) => updateAiSettings(trx, scope(orgId), body));
      return { data: presentAi(org, deps.config), message: 'AI settings updated successfully' };
    },
  }),
];
