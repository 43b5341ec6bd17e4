/**
 * Ticket search over sealed descriptions: GET /tickets?search= opens the
 * descriptions of the tickets the other filters leave and matches them in the
 * service (models/tickets.ts), since SQL cannot read them. Floor, same run and
 * database: the same page and count by ILIKE over the same descriptions stored
 * in plain text (what the search cost before they were sealed). No target:
 * it shows what sealing costs a staff search as a clinic's tickets grow.
 */
import type { Knex } from 'knex';
import { openDatabase } from '../models/db.js';
import { parseKeyRing } from '../lib/encryption.js';
import { createOrganization } from '../models/organizations.js';
import { listTickets } from '../models/tickets.js';
import { sealText } from '../models/encryption.js';
import { newId } from '../lib/ids.js';
import { BENCH_ENCRYPTION_KEYS, benchDatabaseUrl, resetDatabase } from './lib.js';

const SIZES = [5_000, 20_000];
const RUNS = 9;

function ticketsDatabaseUrl(): string {
  const u = new URL(benchDatabaseUrl());
  u.pathname = '/carechat_bench_tickets';
  return u.toString();
}

const description = (n: number) => `general: the patient asked for a person (flow menu/start, language es). Last message: "necesito hablar con alguien sobre la cita ${n}"`;

async function insertTickets(knex: Knex, orgId: string, from: number, to: number, seal: boolean): Promise<void> {
  for (let i = from; i < to; i += 1000) {
    await knex('tickets').insert(Array.from({ length: Math.min(1000, to - i) }, (_, j) => {
      const n = i + j;
      return {
        id: newId('ticket'), organization_id: orgId, number: n + 1, category: 'general', priority: 'medium', status: 'open',
        title: `Ticket ${n}`, source: 'bot', description: seal ? sealText(knex, description(n)) : description(n),
      };
    }));
  }
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
}

export async function runTicketSearchBenchmark(): Promise<void> {
  const url = ticketsDatabaseUrl();
  await resetDatabase(url);
  const db = await openDatabase({ url, keyRing: parseKeyRing(BENCH_ENCRYPTION_KEYS) });
  try {
    const knex = db.knex;
    const sealed = await createOrganization(knex, { name: 'Sealed Clinic', timeZone: 'Europe/Madrid' });
    const plain = await createOrganization(knex, { name: 'Plaintext Clinic', timeZone: 'Europe/Madrid' });
    let have = 0;
    for (const size of SIZES) {
      await insertTickets(knex, sealed.id, have, size, true);
      await insertTickets(knex, plain.id, have, size, false);
      have = size;
      await knex.raw('VACUUM ANALYZE tickets');
      const search = 'cita 1234"';
      const ours = await median(async () => {
        const r = await listTickets(knex, { organizationId: sealed.id }, { page: 1, limit: 20, search, sort: ['created_at', 'desc'] });
        if (r.total !== 1) throw new Error(`sealed search found ${r.total}`);
      });
      const floor = await median(async () => {
        const term = `%${search}%`;
        const where = (q: Knex.QueryBuilder) => q.where('t.organization_id', plain.id).where((w) => w.where('t.title', 'ilike', term).orWhere('t.description', 'ilike', term));
        const [{ count }] = await where(knex('tickets as t')).count('* as count');
        const rows = await where(knex('tickets as t')).select('t.*').orderBy('t.created_at', 'desc').limit(20);
        if (Number(count) !== 1 || rows.length !== 1) throw new Error(`plaintext search found ${count}`);
      });
      console.log(`  ${size.toLocaleString('en')} tickets, search in sealed descriptions: median ${ours.toFixed(1)} ms; floor (ILIKE on plaintext): ${floor.toFixed(1)} ms; ${(ours / floor).toFixed(1)}x the floor`);
    }
  } finally {
    await db.close();
  }
}
