/**
 * What the engine needs to know about a clinic on every turn (time zone,
 * emergency number, bookable doctors with their working hours and zones, and
 * specializations), cached per organization for a short while so a turn costs
 * no extra queries, and a slot search reads only appointments.
 */
import type { Db } from '../../models/base.js';
import { doctorsQuery } from '../../models/doctors.js';
import type { SlotDoctor } from '../../models/slots.js';
import { loadOrganization, orgSettings } from '../../models/settings.js';
import { mergeWeeklyHours } from '../../models/workingHours.js';
import { formatPhoneForPeople } from '../../lib/phone.js';
import type { ClinicInfo } from '../dialogue/types.js';
import { LANGS, type Lang } from '../understanding/types.js';

/** A bookable doctor (active), with what the slot search needs of it (models/slots.ts freeSlotsOfDoctors). */
export interface ClinicDoctor extends SlotDoctor { specialization: string }

export interface ClinicContext {
  organizationId: string;
  timeZone: string;
  emergencyNumber: string;
  defaultLanguage: Lang;
  doctors: ClinicDoctor[];
  specializations: string[];
  /** What the bot tells patients about the clinic (DialogueContext.clinic). */
  info: ClinicInfo;
}

export function asLang(value: unknown): Lang | null {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value) ? (value as Lang) : null;
}

/** One of the bot's languages from a BCP 47 tag ("es", "en-GB", "ca-ES"): its primary subtag; null for any other language. */
export function langOfTag(tag: string | null | undefined): Lang | null {
  return typeof tag === 'string' ? asLang(tag.split(/[-_]/)[0]!.toLowerCase()) : null;
}

async function loadClinic(db: Db, organizationId: string, fallbackEmergency: string): Promise<ClinicContext> {
  const org = await loadOrganization(db, { organizationId });
  const stored = (org.settings ?? {}) as Record<string, unknown>;
  const settings = orgSettings(org);
  const rows = await doctorsQuery(db, organizationId).where('doctors.active', true).orderBy('doctors.name');
  const doctors = rows.map((d) => ({ id: d.id, name: d.name, specialization: d.specialization, workingHours: d.working_hours, timeZone: d.effective_time_zone }));
  const specializations = [...new Set(doctors.map((d) => d.specialization))].sort((a, b) => a.localeCompare(b));
  const emergency = typeof stored.emergency_number === 'string' && stored.emergency_number ? stored.emergency_number : fallbackEmergency;
  return {
    organizationId, timeZone: org.time_zone, emergencyNumber: emergency,
    defaultLanguage: asLang(settings.default_language) ?? 'en', doctors, specializations, info: clinicInfo(settings, doctors),
  };
}

/** The clinic's own details, else what stands in for them: the number it answers calls on, the hours its doctors work. */
function clinicInfo(settings: ReturnType<typeof orgSettings>, doctors: readonly ClinicDoctor[]): ClinicInfo {
  const phone = settings.contact_phone ?? settings.voice_number ?? settings.sms_number;
  return {
    address: settings.address,
    phone: phone ? formatPhoneForPeople(phone) : null,
    openingHours: settings.opening_hours ?? mergeWeeklyHours(doctors.map((d) => d.workingHours)),
  };
}

/** A per-organization cache with a time to live; `invalidate` drops one organization (settings or doctors changed). */
export class ClinicCache {
  private readonly entries = new Map<string, { at: number; value: Promise<ClinicContext> }>();

  constructor(private readonly ttlMs: number, private readonly fallbackEmergency: string, private readonly nowMs: () => number = Date.now) {}

  /** Reads through the root connection: never call it inside a transaction (PGlite has one connection). */
  get(db: Db, organizationId: string): Promise<ClinicContext> {
    const hit = this.entries.get(organizationId);
    const now = this.nowMs();
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = loadClinic(db, organizationId, this.fallbackEmergency);
    this.entries.set(organizationId, { at: now, value });
    value.catch(() => this.entries.delete(organizationId));
    return value;
  }

  invalidate(organizationId?: string): void {
    if (organizationId) this.entries.delete(organizationId); else this.entries.clear();
  }
}
