/** Request schema pieces shared by several resources. */
import { z } from 'zod';
import { toE164 } from '../../lib/phone.js';
import { isoDate, isoDateTime } from '../http/route.js';
import { validateWorkingHours } from '../../models/workingHours.js';

/** A phone in E.164 after normalization; "+34 612 34 56 78" is accepted and stored as +34612345678. */
export const phoneInput = z
  .string()
  .max(32)
  .transform((v, ctx) => {
    const e164 = toE164(v);
    if (!e164) {
      ctx.addIssue({ code: 'custom', message: 'must be a valid phone number in international format, e.g. +34612345678' });
      return z.NEVER;
    }
    return e164;
  })
  .describe('Phone number in E.164, e.g. +34612345678');

export const languageInput = z.enum(['en', 'es', 'ca', 'hi']).describe('Preferred language: en, es, ca or hi');

export const deletedSchema = z.null();

export const idSchema = (prefix: string) => z.string().min(1).max(64).describe(`A ${prefix}_ id`);

export const dateOrDateTime = z.union([isoDateTime, isoDate]).describe('ISO 8601 date or date-time');

export const conversationStatusInput = z.enum(['bot', 'handoff', 'closed']);
export const channelInput = z.enum(['webchat', 'sms', 'whatsapp', 'telegram', 'voice']);

/**
 * Weekly hours in the VAANI format, validated here so one 400 lists every bad
 * field, each named like `working_hours.monday[1]` (under the field's own name).
 */
export const workingHoursInput = z.record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    for (const e of validateWorkingHours(value).errors) {
      ctx.addIssue({ code: 'custom', message: e.message, path: e.field === 'working_hours' ? [] : [e.field.slice('working_hours.'.length)] });
    }
  })
  .describe('Weekly hours: {"monday": ["09:00-13:00", "14:00-18:00"], ..., "sunday": []}; missing days have none');
