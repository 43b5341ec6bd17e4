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
