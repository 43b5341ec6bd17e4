/** What leaves the API about a patient: a whitelist, described by the same schema OpenAPI shows. */
import { z } from 'zod';
import type { Patient } from '../../models/patients.js';

export const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

export const patientSchema = z.object({
  id: z.string(),
  name: z.string(),
  phone: z.string().nullable(),
  email: z.string().nullable(),
  date_of_birth: z.string().nullable(),
  gender: z.string().nullable(),
  address: z.string().nullable(),
  emergency_contact: z.object({ name: z.string().optional(), phone: z.string().optional(), relationship: z.string().optional() }).nullable(),
  preferred_language: z.string(),
  status: z.enum(['active', 'inactive']),
  notes: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  opted_out: z.boolean(),
  registration_date: z.string(),
  last_activity: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});

export type PatientView = z.infer<typeof patientSchema>;

export function presentPatient(p: Patient): PatientView {
  return {
    id: p.id,
    name: p.name,
    phone: p.phone,
    email: p.email,
    date_of_birth: p.date_of_birth,
    gender: p.gender,
    address: p.address,
    emergency_contact: p.emergency_contact,
    preferred_language: p.preferred_language,
    status: p.status,
    notes: p.notes,
    metadata: p.metadata ?? {},
    opted_out: p.opted_out_at != null,
    registration_date: iso(p.created_at)!,
    last_activity: iso(p.last_activity_at)!,
    created_at: iso(p.created_at)!,
    updated_at: iso(p.updated_at)!,
  };
}
