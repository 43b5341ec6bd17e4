/**
 * Issue 2 benchmark: GET /appointments?doctor_id&start_date (page of 20) and
 * GET /appointments/available-slots on 100k patients / 200k appointments,
 * against a minimal Koa + pg handler doing the same queries, same run.
 */
import { openDatabase } from '../models/db.js';
import { createTokenService } from '../models/tokens.js';
import { seedLargeClinic } from './seed.js';
import { benchDatabaseUrl, fmt, resetDatabase, runLoad, startServerProcess, type LoadResult } from './lib.js';

const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0123';

export interface ApiBenchResult { name: string; ours: LoadResult; floor: LoadResult; ratio: number }

export async function runApiBenchmark(opts: { connections: number; seconds: number }): Promise<ApiBenchResult[]> {
  const url = benchDatabaseUrl();
  await resetDatabase(url);
  const db = await openDatabase({ url });
  const t0 = Date.now();
  const seeded = await seedLargeClinic(db.knex, { patients: 100_000, appointments: 200_000, doctors: 50 });
  console.log(`seeded 100,000 patients and 200,000 appointments in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const tokens = createTokenService(new TextEncoder().encode(JWT_SECRET), 3600, () => new Date());
  const { token } = await tokens.signAccess({ sub: seeded.adminUserId, org: seeded.organizationId, role: 'admin', ver: 0 });
  await db.close();

  const env = { DATABASE_URL: url, JWT_SECRET, BENCH_ORG_ID: seeded.organizationId };
  const cases = [
    { name: 'GET /appointments?doctor_id&start_date (page of 20)', ours: `/api/v1/appointments?doctor_id=${seeded.busiestDoctorId}&start_date=${seeded.firstDay}&limit=20`, floor: `/appointments?doctor_id=${seeded.busiestDoctorId}&start_date=${seeded.firstDay}` },
    { name: 'GET /appointments/available-slots', ours: `/api/v1/appointments/available-slots?doctor_id=${seeded.busiestDoctorId}&date=${seeded.firstDay}&duration_minutes=30`, floor: `/appointments/available-slots?doctor_id=${seeded.busiestDoctorId}&date=${seeded.firstDay}` },
  ];
  const results: ApiBenchResult[] = [];
  const auth = { Authorization: `Bearer ${token}` };
  for (const c of cases) {
    // Both servers up, loaded one at a time (they share two cores with the load generator), in the
    // order ours, floor, floor, ours: a machine that speeds up or slows down during the run then
    // weighs on both alike instead of on whichever ran second.
    const [ours, floor] = [await startServerProcess('carechat.ts', env), await startServerProcess('minimal.ts', env)];
    try {
      await runLoad({ urls: [ours.url + c.ours], connections: 10, seconds: 2, headers: auth }); // warm-up
      await runLoad({ urls: [floor.url + c.floor], connections: 10, seconds: 2 });
      const half = Math.max(1, opts.seconds / 2);
      const oursRuns: LoadResult[] = [];
      const floorRuns: LoadResult[] = [];
      oursRuns.push(await runLoad({ urls: [ours.url + c.ours], connections: opts.connections, seconds: half, headers: auth }));
      floorRuns.push(await runLoad({ urls: [floor.url + c.floor], connections: opts.connections, seconds: half }));
      floorRuns.push(await runLoad({ urls: [floor.url + c.floor], connections: opts.connections, seconds: half }));
      oursRuns.push(await runLoad({ urls: [ours.url + c.ours], connections: opts.connections, seconds: half, headers: auth }));
      const oursResult = combine(oursRuns);
      const floorResult = combine(floorRuns);
      const ratio = oursResult.requestsPerSec / floorResult.requestsPerSec;
      results.push({ name: c.name, ours: oursResult, floor: floorResult, ratio });
      console.log(`\n${c.name}, ${opts.connections} connections, 2 x ${half} s each, interleaved`);
      console.log(`  carechat      ${fmt(oursResult)}`);
      console.log(`  minimal floor ${fmt(floorResult)}`);
      console.log(`  ratio ${ratio.toFixed(2)}x (target >= 0.80x), p99 ${oursResult.p99} ms (target < 50 ms): ${ratio >= 0.8 && oursResult.p99 < 50 ? 'MET' : 'NOT MET'}`);
    } finally {
      await ours.stop();
      await floor.stop();
    }
  }
  return results;
}

/** Passes of equal length as one: mean throughput, summed counts, the mean p50 and the worst p99. */
function combine(runs: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  return {
    requestsPerSec: sum((r) => r.requestsPerSec) / runs.length,
    p50: Math.round(sum((r) => r.p50) / runs.length),
    p99: Math.max(...runs.map((r) => r.p99)),
    errors: sum((r) => r.errors), non2xx: sum((r) => r.non2xx), total: sum((r) => r.total),
  };
}
