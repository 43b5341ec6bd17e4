/**
 * Benchmark plumbing: a PostgreSQL database of its own, child processes for
 * the servers under test, and autocannon in its own process so the load
 * generator never shares an event loop with the server it measures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import pg from 'pg';

/** The benchmarks' key ring: CareChat runs as in production, with message content sealed at rest (lib/encryption.ts). */
export const BENCH_ENCRYPTION_KEYS = `bench1:${Buffer.alloc(32, 7).toString('base64')}`;

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function benchDatabaseUrl(): string {
  return process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/carechat_bench';
}

/** Drops and recreates the benchmark database (never the one the tests or the service use). */
export async function resetDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = u.pathname.slice(1);
  if (!/^[a-z_][a-z0-9_]*$/.test(name) || name === 'test' || name === 'postgres') throw new Error(`refusing to reset database "${name}"`);
  u.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: u.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux's usual builds). */
const TICKS_PER_SECOND = 100;

function procCpuSeconds(pid: string | number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
}

/** CPU seconds used so far by a process and by each PostgreSQL backend of a database (by pid). */
export interface CpuSample { server: number; postgres: Map<string, number> }

/**
 * CPU seconds used so far by a process (`pid`) and by each PostgreSQL backend
 * serving `database` on this machine, from /proc; null where there is no /proc.
 * Two samples, at the start and end of a measured window, give the CPU one
 * unit of work costs on each side (cpuUsed), which moves less from run to run than rates do.
 */
export function cpuSample(pid: number, database: string): CpuSample | null {
  if (!fs.existsSync('/proc/self/stat')) return null;
  const postgres = new Map<string, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('postgres: ') && cmd.includes(` ${database} `)) postgres.set(entry, procCpuSeconds(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return { server: procCpuSeconds(pid), postgres };
}

/**
 * The CPU used between two samples, by the process and by the backends, each
 * backend on its own. Summing the backends' totals instead lost, at the second
 * sample, the whole past of a backend that had ended in between: the other
 * server's idle connections, closed by its pool while this one was measured,
 * took their earlier passes' CPU with them and left a pass with almost none.
 * A backend that started in between counts from zero; one that ended loses
 * only its time inside the window (an idle connection's: next to nothing).
 */
export function cpuUsed(start: CpuSample, end: CpuSample): { server: number; postgres: number } {
  let postgres = 0;
  for (const [pid, seconds] of end.postgres) postgres += seconds - (start.postgres.get(pid) ?? 0);
  return { server: end.server - start.server, postgres };
}

export interface ServerProcess { url: string; child: ChildProcess; stop(): Promise<void> }

/**
 * Node's settings for every server under test: those `npm start` gives the
 * service (package.json), and the floors too, so that both sides of a ratio
 * run on the same runtime (the floors' rates do not move with it).
 */
const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'];

/** Starts `bench/servers/<script>` in its own process; it prints `LISTENING <port>` when ready. */
export async function startServerProcess(script: string, env: Record<string, string>): Promise<ServerProcess> {
  // BENCH_CPU_PROF_DIR=/tmp/prof writes V8 CPU profiles of each server under test (one per thread; the largest is the
  // main thread). Read them with Chrome DevTools.
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, ...SERVER_NODE_FLAGS, '--import', 'tsx', path.join(ROOT, 'bench', 'servers', script)], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const m = /LISTENING (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface LoadResult { requestsPerSec: number; p50: number; p99: number; errors: number; non2xx: number; total: number }

/** Runs autocannon's CLI against one or more URLs (round-robin) and returns its figures. */
export async function runLoad(opts: { urls: string[]; connections: number; seconds: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const bin = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
  const args = [bin, '-j', '-c', String(opts.connections), '-d', String(opts.seconds)];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  // Several paths: autocannon's --on-port is awkward, so one URL per run is the norm here.
  args.push(opts.urls[0]);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  await once(child, 'exit');
  const r = JSON.parse(out) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
  return { requestsPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx, total: r.requests.total };
}

export function fmt(r: LoadResult): string {
  return `${r.requestsPerSec.toFixed(0).padStart(6)} req/s   p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   (${r.total} requests, ${r.errors} errors, ${r.non2xx} non-2xx)`;
}
