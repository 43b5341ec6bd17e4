/** Data for the analytics and dashboard tests: a fixed "now" and appointments stored as rows at chosen times. */
import type { TestOrg } from './factories.js';
import { newId } from '../../lib/ids.js';

// A Sunday, the day Madrid leaves summer time (03:00 CEST -> 02:00 CET): 13:00 local, a 25-hour day.
export const NOW = new Date('2025-10-26T12:00:00Z');
export const OCTOBER = 'start_date=2025-10-01&end_date=2025-10-31';

export interface AppointmentRow {
  patientId: string;
  doctorId: string;
  start: string;
  status?: string;
  type?: string;
  source?: string;
  /** null: booked by the bot (no user made it). Default: the org's admin. */
  createdBy?: string | null;
  cancellationReason?: string | null;
  createdAt?: string;
}

/** Appointments stored as rows at chosen times (the past included): these tests read, they do not book. */
export async function insertAppointments(t: TestOrg, rows: AppointmentRow[]): Promise<string[]> {
  const ids = rows.map(() => newId('appointment'));
  await t.svc.deps.db.knex('appointments').insert(rows.map((r, i) => {
    const start = new Date(r.start);
    return {
      id: ids[i], organization_id: t.org.id, patient_id: r.patientId, doctor_id: r.doctorId, start_time: start,
      end_time: new Date(start.getTime() + 30 * 60_000), duration_minutes: 30, type: r.type ?? 'consultation', status: r.status ?? 'scheduled',
      source: r.source ?? 'api', created_by: r.createdBy === undefined ? t.admin.user.id : r.createdBy,
      cancellation_reason: r.cancellationReason ?? null, created_at: new Date(r.createdAt ?? new Date(start.getTime() - 86_400_000).toISOString()),
    };
  }));
  return ids;
}

export const get = (t: TestOrg, path: string) => t.admin.client.get(`/api/v1${path}`);
export const bucket = (series: Array<{ interval: string }>, day: string) => series.find((b) => b.interval === day);
