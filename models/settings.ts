/**
 * Organization settings: the one reader (`orgSettings`) with every default,
 * and the two writers (clinic settings, AI settings). Everything lives in
 * organizations.settings (jsonb); a PATCH merges in one UPDATE, so two
 * concurrent PATCHes of different keys never lose each other's change.
 */
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { type Db, type OrgScope } from './base.js';
import { Organization } from './organizations.js';
import type { PatientLanguage } from './patients.js';
import { conflict, notFound } from '../lib/errors.js';
import { notifyClinicChanged } from './clinicChanges.js';
import type { WorkingHours } from './workingHours.js';

export interface QuietHours { start: string; end: string }

/** An approved WhatsApp utility template whose body has exactly one variable, {{1}}: sends outside the 24-hour window use it. */
export interface WhatsAppTemplate { name: string; language: string }

export interface ClinicSettings {
  cancellation_window_hours: number;
  reschedule_window_hours: number;
  reminder_offsets_minutes: number[];
  /** Local times (org zone) when bulk messages wait; null disables. */
  quiet_hours: QuietHours | null;
  default_language: PatientLanguage;
  emergency_number: string;
  /** Voice: where a call the bot hands to staff is put through (E.164); null: the caller is told the clinic will call back. */
  voice_transfer_number: string | null;
  sms_rate_per_second: number | null;
  /** The template a WhatsApp message goes out as when the 24-hour window is closed; null: such messages fail. */
  whatsapp_template: WhatsAppTemplate | null;
  /**
   * The clinic's own accounts on the channels (CHANNEL_ACCOUNT_KEYS): inbound
   * messages and calls to them reach this organization
   * (organizationForChannelAccount); null: it gets only what no other
   * organization claims, and only when it is the first one.
   */
  sms_number: string | null;
  voice_number: string | null;
  whatsapp_phone_number_id: string | null;
  telegram_bot_id: string | null;
  /** What the bot tells a patient who asks where the clinic is; null: it offers a person instead. */
  address: string | null;
  /** The number the bot gives a patient who asks how to call (E.164); null: voice_number, else sms_number. */
  contact_phone: string | null;
  /** When the clinic is open, as doctors' working_hours; null: when its active doctors work, together. */
  opening_hours: WorkingHours | null;
}

/** Settings that name a channel account: one organization each. */
export const CHANNEL_ACCOUNT_KEYS = ['sms_number', 'voice_number', 'whatsapp_phone_number_id', 'telegram_bot_id'] as const;

export interface AiSettings {
  enabled: boolean;
  model: string | null;
  temperature: number;
  system_prompt: string | null;
  max_retries: number;
  auto_suggestions: boolean;
  require_confirmation: boolean;
  /** Write-only: stored, never returned (see `presentableAiSettings`). */
  api_key?: string | null;
}

export const DEFAULT_CLINIC_SETTINGS: ClinicSettings = {
  cancellation_window_hours: 24,
  reschedule_window_hours: 2,
  reminder_offsets_minutes: [1440, 120],
  quiet_hours: { start: '21:00', end: '08:00' },
  default_language: 'en',
  emergency_number: '112',
  voice_transfer_number: null,
  sms_rate_per_second: null,
  whatsapp_template: null,
  sms_number: null,
  voice_number: null,
  whatsapp_phone_number_id: null,
  telegram_bot_id: null,
  address: null,
  contact_phone: null,
  opening_hours: null,
};

export const DEFAULT_AI_SETTINGS: AiSettings = {
  enabled: false,
  model: null,
  temperature: 0.2,
  system_prompt: null,
  max_retries: 2,
  auto_suggestions: false,
  require_confirmation: true,
};

export const CLINIC_SETTING_KEYS = Object.keys(DEFAULT_CLINIC_SETTINGS) as (keyof ClinicSettings)[];

/** The clinic settings of an organization with every default filled in. */
export function orgSettings(org: Pick<Organization, 'settings'>): ClinicSettings {
  const stored = (org.settings ?? {}) as Record<string, unknown>;
  const out = { ...DEFAULT_CLINIC_SETTINGS } as Record<string, unknown>;
  for (const key of CLINIC_SETTING_KEYS) if (stored[key] !== undefined) out[key] = stored[key];
  return out as unknown as ClinicSettings;
}

/** The AI settings with defaults; includes the stored api_key (callers present without it). */
export function aiSettings(org: Pick<Organization, 'settings'>): AiSettings {
  const stored = ((org.settings ?? {}) as Record<string, unknown>).ai;
  return { ...DEFAULT_AI_SETTINGS, ...(stored && typeof stored === 'object' ? (stored as Partial<AiSettings>) : {}) };
}

/** The organization's WhatsApp template, or null when none (or a stored value that is not one) is set. */
export function whatsappTemplate(org: Pick<Organization, 'settings'>): WhatsAppTemplate | null {
  const t = orgSettings(org).whatsapp_template as unknown;
  if (!t || typeof t !== 'object') return null;
  const { name, language } = t as Record<string, unknown>;
  return typeof name === 'string' && name && typeof language === 'string' && language ? { name, language } : null;
}

/** `organizationId => its WhatsApp template`, cached; `invalidate` drops one organization's entry (or all). */
export interface WhatsAppTemplateLookup {
  (organizationId: string): Promise<WhatsAppTemplate | null>;
  invalidate(organizationId?: string): void;
}

/**
 * The organization's WhatsApp template, each read kept `ttlMs`. For the
 * WhatsApp adapter, which asks only when a send meets a closed 24-hour window.
 * main.ts invalidates an entry when the clinic-changed NOTIFY of a settings
 * update arrives (every instance hears it), so a new template is used at once;
 * the time to live bounds the staleness when a notification is lost.
 */
export function whatsappTemplateLookup(db: Db, ttlMs = 30_000, nowMs: () => number = Date.now): WhatsAppTemplateLookup {
  const entries = new Map<string, { at: number; value: Promise<WhatsAppTemplate | null> }>();
  const lookup = (organizationId: string) => {
    const hit = entries.get(organizationId);
    const now = nowMs();
    if (hit && now - hit.at < ttlMs) return hit.value;
    const value = Organization.query(db).findById(organizationId).then((org) => (org ? whatsappTemplate(org) : null));
    entries.set(organizationId, { at: now, value });
    value.catch(() => entries.delete(organizationId));
    return value;
  };
  return Object.assign(lookup, {
    invalidate(organizationId?: string) {
      if (organizationId) entries.delete(organizationId); else entries.clear();
    },
  });
}

export async function loadOrganization(db: Db, scope: OrgScope): Promise<Organization> {
  const org = await Organization.query(db).findById(scope.organizationId);
  if (!org) throw notFound('Organization');
  return org;
}

export interface OrganizationPatch {
  name?: string;
  time_zone?: string;
  settings?: Partial<ClinicSettings>;
}

/**
 * Applies a validated patch; settings keys are merged, a null quiet_hours is
 * stored as null (disabled). A channel account another organization already
 * has is 409 naming the setting (run it in a transaction: the check holds a
 * lock on the account until the commit, so two clinics cannot both take it).
 */
export async function updateOrganizationSettings(db: Db, scope: OrgScope, patch: OrganizationPatch): Promise<Organization> {
  const k = db as Knex;
  for (const key of CHANNEL_ACCOUNT_KEYS) {
    const account = patch.settings?.[key];
    if (!account) continue;
    await k.raw('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`channel_account:${key}:${account}`]);
    const other = await k('organizations').whereRaw('settings->>? = ?', [key, account]).whereNot('id', scope.organizationId).first('id');
    if (other) throw conflict(`settings.${key}: another organization already has ${account}`, { field: `settings.${key}` });
  }
  const update: Record<string, unknown> = { updated_at: k.fn.now() };
  if (patch.name !== undefined) update.name = patch.name;
  if (patch.time_zone !== undefined) update.time_zone = patch.time_zone;
  if (patch.settings && Object.keys(patch.settings).length) {
    update.settings = k.raw('settings || ?::jsonb', [JSON.stringify(patch.settings)]);
  }
  const n = await k('organizations').where({ id: scope.organizationId }).update(update);
  if (!n) throw notFound('Organization');
  await notifyClinicChanged(db, scope.organizationId);
  return loadOrganization(db, scope);
}

/** Merges a validated AI settings patch into settings.ai; `api_key: null` removes the key. */
export async function updateAiSettings(db: Db, scope: OrgScope, patch: Partial<AiSettings>): Promise<Organization> {
  const k = db as Knex;
  const n = await k('organizations').where({ id: scope.organizationId }).update({
    settings: k.raw(`jsonb_set(settings, '{ai}', jsonb_strip_nulls(coalesce(settings->'ai', '{}'::jsonb) || ?::jsonb))`, [JSON.stringify(patch)]),
    updated_at: k.fn.now(),
  });
  if (!n) throw notFound('Organization');
  return loadOrganization(db, scope);
}

/**
 * The earliest time at or after `now` outside the quiet hours, in the
 * organization's zone (a window like 21:00-08:00 spans midnight). Null quiet
 * hours: `now`.
 */
export function nextSendTime(quiet: QuietHours | null, timeZone: string, now: Date): Date {
  if (!quiet || quiet.start === quiet.end) return now;
  const local = DateTime.fromJSDate(now, { zone: timeZone });
  const minutes = local.hour * 60 + local.minute;
  const toMin = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const start = toMin(quiet.start);
  const end = toMin(quiet.end);
  const inside = start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
  if (!inside) return now;
  // The end of the window: today when we are before it, otherwise tomorrow.
  let endDay = local.startOf('day');
  if (minutes >= end) endDay = endDay.plus({ days: 1 });
  return endDay.set({ hour: Math.floor(end / 60), minute: end % 60 }).toJSDate();
}
