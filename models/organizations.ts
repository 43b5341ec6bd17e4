import type { Knex } from 'knex';
import { BaseModel, type Db } from './base.js';
import { newId } from '../lib/ids.js';

export interface OrganizationSettings {
  cancellation_window_hours?: number;
  reschedule_window_hours?: number;
  [key: string]: unknown;
}

export class Organization extends BaseModel {
  static override tableName = 'organizations';
  static override jsonAttributes = ['settings'];
  id!: string;
  name!: string;
  time_zone!: string;
  settings!: OrganizationSettings;
  created_at!: Date;
  updated_at!: Date;
}

export async function createOrganization(db: Db, input: { name: string; timeZone: string; settings?: OrganizationSettings }): Promise<Organization> {
  return Organization.query(db).insertAndFetch({
    id: newId('organization'),
    name: input.name,
    time_zone: input.timeZone,
    // Only what was set is stored; models/settings.ts `orgSettings` fills in every default.
    settings: input.settings ?? {},
  });
}

export async function getOrganization(db: Db, orgId: string): Promise<Organization> {
  return Organization.query(db).findById(orgId).throwIfNotFound();
}

/** The settings key that names an organization's account on a channel (its number, its bot). */
export type ChannelAccountSetting = 'sms_number' | 'voice_number' | 'whatsapp_phone_number_id' | 'telegram_bot_id';

/**
 * The organization an inbound provider account (a Twilio number, a WhatsApp
 * phone number id, a Telegram bot) belongs to: the one whose settings name
 * it (`own`), else, single tenant, the first organization.
 */
export async function organizationForChannelAccount(db: Db, setting: ChannelAccountSetting, account: string | null | undefined): Promise<{ id: string; own: boolean } | null> {
  const k = db as Knex;
  if (account) {
    const own = (await k('organizations').whereRaw('settings->>? = ?', [setting, account]).orderBy('created_at').first('id')) as { id: string } | undefined;
    if (own) return { id: own.id, own: true };
  }
  const first = (await k('organizations').orderBy('created_at').orderBy('id').first('id')) as { id: string } | undefined;
  return first ? { id: first.id, own: false } : null;
}
