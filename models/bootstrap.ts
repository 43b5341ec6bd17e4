/**
 * First start on an empty database: one organization, an admin, and (when asked)
 * demo doctors with working hours so the service is usable at once.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { Organization, createOrganization } from './organizations.js';
import { createUser } from './users.js';
import { newId } from '../lib/ids.js';

export interface BootstrapInput {
  orgName: string;
  timeZone: string;
  adminEmail: string;
  adminPassword?: string;
  seedDemo: boolean;
}

export interface BootstrapResult {
  created: boolean;
  organizationId: string;
  /** Present only when a password was generated: shown once, never stored in clear. */
  generatedPassword?: string;
}

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'];
const hours = (ranges: string[], days = WEEKDAYS) => Object.fromEntries(
  ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, days.includes(d) ? ranges : []]),
);

export const DEMO_DOCTORS = [
  { name: 'Dr. Ana García', specialization: 'General Practice', working_hours: hours(['09:00-13:00', '15:00-19:00']) },
  { name: 'Dr. Priya Sharma', specialization: 'Pediatrics', working_hours: hours(['08:00-14:00'], [...WEEKDAYS, 'saturday']) },
  { name: 'Dr. Jordi Puig', specialization: 'Cardiology', working_hours: hours(['10:00-18:00']) },
];

export const DEMO_ADDRESS = 'Carrer de la Demo 1, 08001 Barcelona';

/** Idempotent: does nothing when an organization already exists. Safe under concurrent starts. */
export async function bootstrap(knex: Knex, input: BootstrapInput): Promise<BootstrapResult> {
  return knex.transaction(async (trx) => {
    // Serializes concurrent first starts of several instances.
    await trx.raw('SELECT pg_advisory_xact_lock(727001)');
    const existing = await Organization.query(trx).orderBy('created_at').first();
    if (existing) return { created: false, organizationId: existing.id };
    const org = await createOrganization(trx, { name: input.orgName, timeZone: input.timeZone });
    const generatedPassword = input.adminPassword ? undefined : randomBytes(12).toString('base64url');
    await createUser(trx, { organizationId: org.id }, {
      email: input.adminEmail,
      username: 'admin',
      password: input.adminPassword ?? generatedPassword!,
      first_name: 'Clinic',
      last_name: 'Admin',
      role: 'admin',
    });
    if (input.seedDemo) {
      // An address so "where are you?" has an answer in the demo; the opening hours follow the doctors'.
      await trx('organizations').where({ id: org.id }).update({ settings: trx.raw('settings || ?::jsonb', [JSON.stringify({ address: DEMO_ADDRESS })]) });
      for (const d of DEMO_DOCTORS) {
        await trx('doctors').insert({
          id: newId('doctor'), organization_id: org.id, name: d.name, specialization: d.specialization,
          working_hours: JSON.stringify(d.working_hours), location: 'Main clinic', active: true,
        });
      }
    }
    return { created: true, organizationId: org.id, generatedPassword };
  });
}
