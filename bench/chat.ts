/**
 * Chat benchmark: web chat visitors booking appointments by numbered replies
 * (rules understanding, dialogue, domain writes, outbox and dispatcher, every
 * turn) against CareChat on PostgreSQL, beside a Koa + ws + pg echo server
 * doing the same database writes per turn (bench/servers/echo.ts), same run.
 *
 * 0. The clinic, with a history (bench/seed.ts seedChatHistory), analyzed.
 * 1. Calibration, in process: a few visitors book while every row the service
 *    writes (PostgreSQL's table statistics) and every transaction that writes
 *    (knex query events) is counted, giving the writes and transactions of an
 *    average turn; the echo does as many, one row per statement.
 * 2. At full speed CareChat, the echo, the echo again, CareChat again (each
 *    side's rate is the mean of its two passes); then CareChat throttled to
 *    70% of its rate (the p99 target applies there), the echo at 70% of its
 *    own: its p99 there is the latency floor on this machine. That is a
 *    round; `npm run bench` plays three and judges the targets on the median
 *    round's ratio and p99 (one machine's speed moves by a quarter between
 *    passes).
 *    Every pass starts from a vacuumed database, ours from the seeded
 *    calendar too (settleDatabase).
 * Visitors start over the warm-up and vary their think times
 * (bench/chatClient.ts), so the passes measure a steady mix of dialogue steps.
 * The load generator is its own process (bench/chatClient.ts), as are the servers.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Knex } from 'knex';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { openDatabase } from '../models/db.js';
import { createOrganization } from '../models/organizations.js';
import { createDoctor } from '../models/doctors.js';
import { startService } from '../main.js';
import { runChatLoad, type ChatLoadConfig, type ChatLoadReport } from './chatClient.js';
import { parseKeyRing } from '../lib/encryption.js';
import { BENCH_ENCRYPTION_KEYS, benchDatabaseUrl, cpuSample, cpuUsed, resetDatabase, ROOT, startServerProcess, type ServerProcess } from './lib.js';
import { seedChatHistory } from './seed.js';

const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0123';
/** The web chat lets one visitor send 20 messages per 10 s: visitors keep under it (550 ms between sends on average). */
const GAP_MS = 550;

export interface ChatBenchOptions {
  /** Concurrent visitors (default 80; `npm run bench` runs 550: fewer capped our rate on faster runs of this machine, and since the outbox claim no longer slows as work piles up, more visitors no longer lower it). CareChat's visitors keep under its per-visitor limit; the echo has none, so its visitors answer at once. */
  clients?: number;
  /** Measured seconds of each pass (default 10), after `warmupSeconds` (default 10: the visitors start over its first 6 s, about one booking dialogue at 70%). */
  seconds?: number;
  warmupSeconds?: number;
  /** Rounds of passes (default 1; `npm run bench` runs 3): the targets are judged on the median round. */
  rounds?: number;
}

export interface ChatBenchResult {
  writesPerTurn: number;
  transactionsPerTurn: number;
  rounds: Round[];
  /** Medians over the rounds: what the targets are judged on. */
  ratio: number;
  p99At70: number;
  met: boolean;
}

/** The chat benchmark's own database, next to the API benchmark's. */
export function chatDatabaseUrl(): string {
  if (process.env.BENCH_CHAT_DATABASE_URL) return process.env.BENCH_CHAT_DATABASE_URL;
  const u = new URL(benchDatabaseUrl());
  u.pathname = '/carechat_bench_chat';
  return u.toString();
}

/** The clinic's past (bench/seed.ts seedChatHistory): 3,000 patients, 4,000 closed conversations of 20 messages, 6,000 past appointments. */
const HISTORY = { patients: 3000, conversations: 4000, messagesPerConversation: 20, appointments: 6000 };

const HOURS = Object.fromEntries(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].map((d) => [d, ['08:00-20:00']]));

/** A Madrid clinic with ten cardiologists and ten GPs working every day 08:00-20:00 (2,400 free slots over the next five days). */
async function seedClinic(knex: Knex): Promise<string> {
  const org = await createOrganization(knex, { name: 'Bench Chat Clinic', timeZone: 'Europe/Madrid' });
  for (let i = 0; i < 20; i++) {
    await createDoctor(knex, { organizationId: org.id }, {
      name: `Dr. Bench ${i}`, specialization: i % 2 ? 'General Practice' : 'Cardiology', working_hours: HOURS, location: `Room ${i + 1}`, active: true,
    });
  }
  return org.id;
}

const WRITE = /^\s*(?:insert|update|delete)\b|^\s*with\b[\s\S]*\b(?:insert|update|delete)\b/i;
/** Opening a web chat session (its row and its conversation) is per visitor, not per turn. */
const SESSION_WRITE = /webchat_sessions|^\s*insert into "conversations"/i;

/** Rows a statement wrote, from knex's response (a count, returned rows, or a pg result). */
function rowsOf(response: unknown): number {
  if (typeof response === 'number') return response;
  if (Array.isArray(response)) return response.length;
  const rowCount = (response as { rowCount?: unknown } | null)?.rowCount;
  return typeof rowCount === 'number' ? rowCount : 1;
}

/**
 * Counts the rows the service writes, its write statements that wrote a row,
 * and the transactions that wrote, while a few visitors book (an empty
 * dispatcher claim is not a write). The echo is given the rows: a statement of
 * ours may write several (see rowsWrittenSoFar).
 */
async function calibrate(url: string, orgId: string): Promise<{ writesPerTurn: number; rowsPerTurn: number; transactionsPerTurn: number; turns: number }> {
  const config = loadConfig({ DATABASE_URL: url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMITS_ENABLED: 'false', JWT_SECRET, SEED_DEMO: 'false', ENCRYPTION_KEYS: BENCH_ENCRYPTION_KEYS });
  const db = await openDatabase({ url, keyRing: parseKeyRing(BENCH_ENCRYPTION_KEYS) });
  let writes = 0;
  let transactions = 0;
  const wrote = new Set<string>();
  // COMMIT raises only 'query'; row counts come with 'query-response'.
  db.knex.on('query', (q: { sql: string; __knexTxId?: string }) => {
    if (q.__knexTxId && /^COMMIT/i.test(q.sql) && wrote.delete(q.__knexTxId)) transactions++;
  });
  db.knex.on('query-response', (response: unknown, q: { sql: string; __knexTxId?: string }) => {
    const tx = q.__knexTxId;
    if (!WRITE.test(q.sql) || SESSION_WRITE.test(q.sql) || rowsOf(response) === 0) return;
    writes++;
    if (tx) wrote.add(tx); else transactions++;
  });
  const rowsBefore = await rowsWrittenSoFar(url);
  const svc = await startService({ config, db, logger: createLogger('warn'), skipBootstrap: true, schedulers: false });
  let report: ChatLoadReport;
  try {
    report = await runChatLoad({ url: svc.url, org: orgId, mode: 'booking', clients: 10, warmupSeconds: 0, seconds: 6, gapMs: GAP_MS, runId: 1 });
  } finally {
    await svc.stop();
    await db.close();
  }
  const rows = (await rowsWrittenSoFar(url, rowsBefore)) - rowsBefore;
  const turns = report.totalTurns;
  return { writesPerTurn: writes / turns, rowsPerTurn: rows / turns, transactionsPerTurn: transactions / turns, turns };
}

/**
 * Rows inserted, updated and deleted in the database so far (PostgreSQL's
 * table statistics), but for opening web chat sessions: their session rows
 * and the conversations they open are per visitor, not per turn. A statement
 * of ours often writes several rows (a CTE stores the message and counts it on
 * the conversation), and the echo writes one row per statement, so the echo
 * is given rows, not statements. Backends report their counts when idle or
 * when they exit: after `previous`, this reads until two readings agree.
 */
async function rowsWrittenSoFar(url: string, previous?: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const read = async () => {
      await client.query('SELECT pg_stat_clear_snapshot()');
      const r = await client.query<{ n: string }>(
        `SELECT coalesce(sum(n_tup_upd + n_tup_del + CASE WHEN relname = 'conversations' THEN 0 ELSE n_tup_ins END), 0) AS n
         FROM pg_stat_user_tables WHERE relname NOT IN ('webchat_sessions', 'knex_migrations', 'knex_migrations_lock')`);
      return Number(r.rows[0]!.n);
    };
    let last = await read();
    if (previous === undefined) return last;
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const now = await read();
      if (now === last && now > previous) return now;
      last = now;
    }
    return last;
  } finally {
    await client.end();
  }
}

/**
 * Sets the database up for a pass, ours or the echo's alike.
 * - `since` (our passes): the clinic gets its seeded calendar back, as the
 *   appointments booked since then (by the benchmark's visitors) go, their
 *   reminders with them. Each of our passes then plays the same mix of dialogue
 *   as the pass whose rate it takes 70% of: on a calendar the earlier passes
 *   had filled, more choices are taken and more turns search again.
 * - VACUUM ANALYZE of every table. ANALYZE: a running service's tables have
 *   statistics that match their contents, and the history leaves some empty
 *   (web chat sessions, reminders, tickets) that the first pass fills.
 *   VACUUM: a pass leaves tens of thousands of dead
 *   rows (each reply is inserted queued, then marked sent), and PostgreSQL
 *   here may run with autovacuum off. Left alone they piled up over the rounds:
 *   after three, 197k dead rows in messages cut our rate from 600 turns/s to
 *   450, and later rounds measured the machine's housekeeping, not the code.
 *   A service's autovacuum keeps them down (it vacuums messages every few
 *   such passes).
 * - CHECKPOINT: no pass has a timed checkpoint land in its window while
 *   another does not (skipped where the role may not).
 */
async function settleDatabase(url: string, since?: Date): Promise<void> {
  const db = await openDatabase({ url });
  try {
    if (since) await db.knex('appointments').where('created_at', '>=', since).del();
    await db.knex.raw('VACUUM ANALYZE');
    await db.knex.raw('CHECKPOINT').catch(() => undefined);
  } finally {
    await db.close();
  }
}

/** A pass's figures, with the CPU the server and its PostgreSQL backends used per turn in the measured window (Linux), and the WAL it wrote. */
type Pass = ChatLoadReport & { cpuPerTurn: { server: number; postgres: number } | null; walPerTurn: { records: number; bytes: number } | null };

/**
 * The cluster's WAL so far (pg_stat_wal): records and bytes. Per turn, it is
 * what the writes cost the database whatever the machine's speed (bytes include
 * the full pages the first change of each page after a checkpoint writes).
 */
async function walSample(client: pg.Client): Promise<{ records: number; bytes: number } | null> {
  try {
    const { rows } = await client.query<{ records: string; bytes: string; lsn: string }>('SELECT wal_records AS records, wal_bytes AS bytes, pg_current_wal_lsn() AS lsn FROM pg_stat_wal');
    // BENCH_WAL_LSN=1 prints where each window's WAL starts and ends, for pg_waldump --stats.
    if (process.env.BENCH_WAL_LSN) process.stderr.write(`WAL LSN ${rows[0]!.lsn}\n`);
    return { records: Number(rows[0]!.records), bytes: Number(rows[0]!.bytes) };
  } catch {
    return null;
  }
}

/** Runs the load generator in its own process, sampling the server's and PostgreSQL's CPU at the window's edges. */
async function runLoadProcess(cfg: ChatLoadConfig, server: ServerProcess, database: string, walClient: pg.Client): Promise<Pass> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'chatClient.ts'), JSON.stringify(cfg)], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const samples: Record<string, ReturnType<typeof cpuSample>> = {};
  const wal: Record<string, Promise<{ records: number; bytes: number } | null>> = {};
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    for (const edge of ['start', 'end']) {
      if (!(edge in samples) && out.includes(`WINDOW ${edge}\n`)) {
        samples[edge] = cpuSample(server.child.pid!, database);
        wal[edge] = walSample(walClient);
      }
    }
  });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`the chat load generator exited with ${code}`);
  const report = JSON.parse(out.trim().split('\n').pop()!) as ChatLoadReport;
  const [a, b] = [samples.start, samples.end];
  const used = a && b ? cpuUsed(a, b) : null;
  const perTurn = (seconds: number) => (report.turns ? (seconds * 1000) / report.turns : NaN);
  const [w0, w1] = [await wal.start, await wal.end];
  const walPerTurn = w0 && w1 && report.turns ? { records: (w1.records - w0.records) / report.turns, bytes: (w1.bytes - w0.bytes) / report.turns } : null;
  return { ...report, cpuPerTurn: used ? { server: perTurn(used.server), postgres: perTurn(used.postgres) } : null, walPerTurn };
}

/**
 * A pass's line. At full speed it also says how many of the machine's cores the
 * server and PostgreSQL kept busy: a pass far below the machine waited on
 * something else (disk flushes of its commits, the host), and its rate says
 * little about the code.
 */
function fmt(r: Pass, offered: number, fullSpeed = false): string {
  const limited = r.turnsPerSec > 0.9 * offered ? ' VISITOR-LIMITED: add clients' : '';
  let cpu = '';
  if (r.cpuPerTurn) {
    cpu = `   CPU/turn: server ${r.cpuPerTurn.server.toFixed(2)} ms, PostgreSQL ${r.cpuPerTurn.postgres.toFixed(2)} ms`;
    const busy = (r.turnsPerSec * (r.cpuPerTurn.server + r.cpuPerTurn.postgres)) / 1000;
    if (fullSpeed) cpu += `, ${busy.toFixed(2)} of ${CORES} cores${busy < 0.6 * CORES ? ' NOT CPU-BOUND: it waited on something else' : ''}`;
  }
  if (r.walPerTurn) cpu += `   WAL/turn: ${r.walPerTurn.records.toFixed(1)} records, ${(r.walPerTurn.bytes / 1024).toFixed(1)} kB`;
  return `${r.turnsPerSec.toFixed(0).padStart(6)} turns/s   p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms   (${r.turns} turns, ${r.errors} errors, ${r.stalls} stalls)${cpu}${limited}`;
}

const CORES = os.cpus().length;

export async function runChatBenchmark(opts: ChatBenchOptions = {}): Promise<ChatBenchResult> {
  const clients = opts.clients ?? 80;
  const seconds = opts.seconds ?? 10;
  const warmupSeconds = opts.warmupSeconds ?? 10;
  const rounds = Math.max(1, Math.floor(opts.rounds ?? 1) || 1);
  const url = chatDatabaseUrl();
  await resetDatabase(url);
  const setup = await openDatabase({ url, keyRing: parseKeyRing(BENCH_ENCRYPTION_KEYS) });
  const orgId = await seedClinic(setup.knex);
  await seedChatHistory(setup.knex, orgId, HISTORY);
  await setup.close();
  const seeded = new Date();

  const cal = await calibrate(url, orgId);
  console.log(`calibration: ${cal.turns} booking turns; per turn ${cal.rowsPerTurn.toFixed(2)} rows written by ${cal.writesPerTurn.toFixed(2)} write statements in ${cal.transactionsPerTurn.toFixed(2)} transactions (session opening excluded)`);
  // The averages as measured, not rounded (4.44 rounded to 4 would spare the echo a tenth of our writes).
  const echoWrites = Number(Math.max(cal.rowsPerTurn, cal.writesPerTurn).toFixed(2));
  const echoTxns = Math.max(1, Number(cal.transactionsPerTurn.toFixed(2)));

  const base = { org: orgId, clients, warmupSeconds, seconds, gapMs: GAP_MS };
  const dbName = new URL(url).pathname.slice(1);
  const offered = Math.round((clients * 1000) / GAP_MS);
  // Both servers up at once. In each round the full-speed passes run in the order ours, echo, echo, ours (as the API
  // pair): a machine speeding up or slowing down during the round weighs on both sides alike, and each side's rate is
  // the mean of two passes. Then ours at 70% of our rate, the echo at 70% of its own.
  const ourServer = await startServerProcess('carechat.ts', { DATABASE_URL: url, JWT_SECRET, DISPATCH_POLL_MS: '1000' });
  const walClient = new pg.Client({ connectionString: url });
  await walClient.connect();
  const played: Round[] = [];
  console.log(`\nweb chat turns, ${clients} visitors (on CareChat each one message per ${GAP_MS} ms on average, under its per-visitor limit: up to ${offered} turns/s offered), ${seconds} s after ${warmupSeconds} s warm-up, ${rounds} round(s)`);
  try {
    const echoServer = await startServerProcess('echo.ts', { DATABASE_URL: url, ECHO_WRITES: String(echoWrites), ECHO_TXNS: String(echoTxns) });
    try {
      for (let r = 0; r < rounds; r++) {
        // Each pass its own visitors (phone numbers follow the run id).
        const runId = (k: number) => 2 + r * 10 + k;
        const oursPass = async (k: number, rate?: number) => {
          await settleDatabase(url, seeded);
          return runLoadProcess({ ...base, url: ourServer.url, mode: 'booking', rate, runId: runId(k) }, ourServer, dbName, walClient);
        };
        const echoPass = async (k: number, rate?: number) => {
          await settleDatabase(url);
          return runLoadProcess({ ...base, url: echoServer.url, mode: 'echo', gapMs: 0, rate, runId: runId(k) }, echoServer, dbName, walClient);
        };
        const ours = [await oursPass(0)];
        const echo = [await echoPass(1), await echoPass(2)];
        ours.push(await oursPass(3));
        const target = Math.round(meanRate(ours) * 0.7);
        const throttled = { ...(await oursPass(4, target)), target };
        const echoTarget = Math.round(meanRate(echo) * 0.7);
        const echoThrottled = { ...(await echoPass(5, echoTarget)), target: echoTarget };
        const round: Round = { ours, echo, throttled, echoThrottled, ratio: meanRate(ours) / meanRate(echo) };
        played.push(round);
        printRound(round, r + 1, offered, echoWrites, echoTxns);
      }
    } finally {
      await echoServer.stop();
    }
  } finally {
    await ourServer.stop();
    await walClient.end();
  }

  // Rounds vary with the machine; the verdict takes the median round of each figure.
  const ratio = median(played.map((round) => round.ratio));
  const p99At70 = median(played.map((round) => round.throttled.p99));
  const met = meetsTargets(ratio, p99At70);
  console.log(`  median of ${played.length} round(s): ratio ${ratio.toFixed(2)}x (${TARGETS}), p99 at 70% ${p99At70.toFixed(1)} ms: ${met ? 'MET' : 'NOT MET'}`);
  return { writesPerTurn: cal.writesPerTurn, transactionsPerTurn: cal.transactionsPerTurn, rounds: played, ratio, p99At70, met };
}

interface Round {
  /** Full-speed passes: ours first and last, the echo's two between. */
  ours: Pass[];
  echo: Pass[];
  throttled: Pass & { target: number };
  echoThrottled: Pass & { target: number };
  /** Mean of our two full-speed rates over the mean of the echo's. */
  ratio: number;
}

function printRound(round: Round, n: number, offered: number, echoWrites: number, echoTxns: number): void {
  console.log(` round ${n}`);
  for (const [i, pass] of round.ours.entries()) {
    console.log(`  carechat booking (${i + 1})  ${fmt(pass, offered, true)}   ${pass.bookings} bookings, ${pass.conflicts} slot conflicts, ${pass.misunderstood} misunderstood`);
  }
  for (const [i, pass] of round.echo.entries()) console.log(`  echo floor (${i + 1}) (${echoWrites} writes, ${echoTxns} tx) ${fmt(pass, Infinity, true)}`);
  console.log(`  carechat at 70% (${String(round.throttled.target).padStart(4)}/s) ${fmt(round.throttled, Infinity)}`);
  const steps = Object.entries(round.throttled.steps ?? {}).map(([step, s]) => `${step} ${s.p50}/${s.p99}/${s.max}`);
  if (steps.length) console.log(`    by step (p50/p99/max ms): ${steps.join(', ')}; turns over 60 ms per half second: ${(round.throttled.slowBySecondHalf ?? []).join(' ')}`);
  console.log(`  echo at 70% (${String(round.echoThrottled.target).padStart(4)}/s)    ${fmt(round.echoThrottled, Infinity)}`);
  if (round.echoThrottled.slowBySecondHalf) console.log(`    turns over 60 ms per half second: ${round.echoThrottled.slowBySecondHalf.join(' ')}`);
  const met = meetsTargets(round.ratio, round.throttled.p99);
  console.log(`  ratio ${round.ratio.toFixed(2)}x (${meanRate(round.ours).toFixed(0)} / ${meanRate(round.echo).toFixed(0)} turns/s, means of two passes each), p99 at 70% ${round.throttled.p99.toFixed(1)} ms (the echo's at 70% of its max: ${round.echoThrottled.p99.toFixed(1)} ms; ${TARGETS}): ${met ? 'met' : 'not met'} in this round`);
}

/** The targets: at least this ratio of the echo's turns/s, and a p99 under this at 70% of our rate. */
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 60;
const TARGETS = `targets: ratio >= ${TARGET_RATIO.toFixed(2)}x, p99 at 70% < ${TARGET_P99_MS} ms`;
const meetsTargets = (ratio: number, p99: number) => ratio >= TARGET_RATIO && p99 < TARGET_P99_MS;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const meanRate = (passes: readonly Pass[]) => passes.reduce((sum, p) => sum + p.turnsPerSec, 0) / passes.length;

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  await runChatBenchmark({
    clients: process.env.BENCH_CHAT_CLIENTS ? Number(process.env.BENCH_CHAT_CLIENTS) : undefined,
    seconds: process.env.BENCH_SECONDS ? Number(process.env.BENCH_SECONDS) : undefined,
    rounds: process.env.BENCH_CHAT_ROUNDS ? Number(process.env.BENCH_CHAT_ROUNDS) : undefined,
  });
  process.exit(0);
}
