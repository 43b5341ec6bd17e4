/**
 * The knex connection for both backends: PostgreSQL through `pg` when a URL is
 * given, otherwise embedded PGlite through its node-postgres adapter. Only the
 * connection differs; migrations and queries are the same code path.
 */
import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { Model } from 'objection';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { migrationSource } from './migrations/index.js';
import { nameRepeatedStatements } from './preparedStatements.js';
import { useKeyRing } from './encryption.js';
import type { KeyRing } from '../lib/encryption.js';

// int8 (count(*), sums) as JS numbers: our counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
// numeric (averages) as numbers too.
pg.types.setTypeParser(1700, (v) => Number.parseFloat(v));
// dates stay 'YYYY-MM-DD' strings instead of local-midnight Date objects.
pg.types.setTypeParser(1082, (v) => v);

export type Notify = (channel: string, payload: string) => void;

export interface Database {
  knex: Knex;
  kind: 'pglite' | 'postgres';
  /** Subscribe to a NOTIFY channel; returns an unsubscribe function. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  url?: string;
  /** Data folder for PGlite; `memory://` keeps it in memory (tests). */
  dataDir?: string;
  poolMax?: number;
  /** Name repeated statements so the server prepares them once per connection (default true). */
  preparedStatements?: boolean;
  /** Seals message content written through this database and opens what it reads (models/encryption.ts); none: plaintext. */
  keyRing?: KeyRing | null;
}

/** Opens the database, binds Objection to it and runs pending migrations. */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const db = opts.url ? openPostgres(opts.url, opts.poolMax ?? 10) : await openPglite(opts.dataDir ?? './data');
  if (opts.preparedStatements !== false) nameRepeatedStatements(db.knex);
  useKeyRing(db.knex, opts.keyRing ?? null);
  Model.knex(db.knex);
  await db.knex.migrate.latest({ migrationSource, tableName: 'knex_migrations' });
  return db;
}

/** Delay before reconnecting a lost LISTEN connection: doubles from the first to the last, then stays. */
const RELISTEN_DELAYS_MS = [100, 200, 500, 1_000, 2_000, 5_000];

function openPostgres(url: string, poolMax: number): Database {
  const knex = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: poolMax } });
  const handlers = new Map<string, Set<(p: string) => void>>();
  let listener: Promise<pg.Client> | null = null;
  let closed = false;
  let failures = 0;
  let retry: NodeJS.Timeout | null = null;

  // One connection listens for every channel. When it is lost (a restart, a failover, an idle timeout), it is opened
  // again and listens again; what was notified in between is lost, which the listeners allow for (the web chat replays
  // on reconnect, the clinic cache expires).
  function listenerClient(): Promise<pg.Client> {
    listener ??= (async () => {
      const client = new pg.Client({ connectionString: url });
      client.on('notification', (msg) => {
        for (const h of handlers.get(msg.channel) ?? []) h(msg.payload ?? '');
      });
      // 'end' follows an error; the error itself needs a handler or it would end the process.
      client.on('error', () => undefined);
      client.on('end', () => lost(client));
      try {
        await client.connect();
        for (const channel of handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      failures = 0;
      return client;
    })();
    const attempt = listener;
    attempt.catch(() => {
      if (listener === attempt) listener = null;
      lost(null);
    });
    return attempt;
  }

  function lost(client: pg.Client | null): void {
    if (client) {
      // The current listener ended (not one replaced already).
      void listener?.then((current) => { if (current === client) { listener = null; reconnect(); } }, () => undefined);
      return;
    }
    reconnect();
  }

  function reconnect(): void {
    if (closed || retry || handlers.size === 0) return;
    const delay = RELISTEN_DELAYS_MS[Math.min(failures++, RELISTEN_DELAYS_MS.length - 1)]!;
    retry = setTimeout(() => {
      retry = null;
      if (!closed && !listener) listenerClient().catch(() => undefined);
    }, delay);
    retry.unref();
  }

  return {
    knex,
    kind: 'postgres',
    async listen(channel, onPayload) {
      if (!handlers.has(channel)) {
        handlers.set(channel, new Set());
        try {
          const client = await listenerClient();
          await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        } catch (err) {
          handlers.delete(channel);
          throw err;
        }
      }
      handlers.get(channel)!.add(onPayload);
      return async () => {
        handlers.get(channel)?.delete(onPayload);
      };
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const client = await listener?.catch(() => null);
      await client?.end().catch(() => undefined);
      await knex.destroy();
    },
  };
}

async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir.startsWith('memory://');
  let lockFile: string | null = null;
  let location = dataDir;
  if (!inMemory) {
    const dir = path.resolve(dataDir);
    fs.mkdirSync(dir, { recursive: true });
    lockFile = takeDataDirLock(dir);
    location = path.join(dir, 'pgdata');
  }
  const pglite = new PGlite(location, { extensions: { btree_gist, pgcrypto } });
  await pglite.waitReady;
  const knex = knexFactory({
    client: 'pg',
    // knex hands this object to pg.Client, which then talks to PGlite in-process.
    connection: createPgConfig(pglite) as unknown as Knex.PgConnectionConfig,
    pool: { min: 1, max: 1 },
    acquireConnectionTimeout: 120_000,
  });
  return {
    knex,
    kind: 'pglite',
    async listen(channel, onPayload) {
      const unsubscribe = await pglite.listen(channel, onPayload);
      return async () => unsubscribe();
    },
    async close() {
      await knex.destroy();
      await pglite.close();
      if (lockFile) fs.rmSync(lockFile, { force: true });
    },
  };
}

/** PGlite takes no lock on its folder, and two processes would corrupt it. */
function takeDataDirLock(dir: string): string {
  const lockFile = path.join(dir, 'carechat.lock');
  try {
    fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number.parseInt(fs.readFileSync(lockFile, 'utf8'), 10);
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(`The data folder ${dir} is in use by process ${pid}; stop it or set DATA_DIR to another folder.`);
    }
    fs.writeFileSync(lockFile, String(process.pid));
  }
  return lockFile;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
