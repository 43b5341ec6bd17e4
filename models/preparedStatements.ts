/**
 * Named (prepared) statements for the texts this service runs again and again.
 *
 * Through knex every statement goes out unnamed, so PostgreSQL parses,
 * analyses and plans it on each execution; for the short keyed statements of a
 * chat turn or a slots request that is most of the server's work. pg prepares
 * a statement that has a name on its first use on a connection and only binds
 * it afterwards, and PostgreSQL then reuses the analysis (and the plan, once a
 * generic plan proves as good as custom ones).
 *
 * Only a text seen REPEATED_AFTER times gets a name, and one connection holds
 * at most MAX_PER_CONNECTION of them, so one-off texts (IN lists of every
 * length, bulk inserts) never pile up in a server's memory. Names come from the
 * final text, so two texts never share one.
 */
import type { Knex } from 'knex';

const REPEATED_AFTER = 3;
const MAX_PER_CONNECTION = 200;
/** Texts counted before the counts start over (they only need to find the hot ones). */
const MAX_COUNTED = 5_000;
/** Distinct named texts of one process, at most. */
const MAX_NAMED = 10_000;

interface QueryObject { sql: string; bindings?: readonly unknown[]; options?: Record<string, unknown> }
interface KnexPgClient { _query(connection: object, obj: QueryObject): Promise<unknown> }
const WRAPPED = Symbol.for('carechat.namedStatements');

/** Each database's naming, by its knex config: a transaction's client shares the config object of the client it came from. */
const namers = new WeakMap<object, (run: QueryRunner, connection: object, obj: QueryObject) => Promise<unknown>>();
type QueryRunner = (connection: object, obj: QueryObject) => Promise<unknown>;

export function nameRepeatedStatements(knex: Knex): void {
  // knex's pg dialect hands `obj.options` to pg's query config; `_query` is where the final text is known. A
  // transaction runs on a client made from the dialect's prototype (knex's makeTxClient), not on this instance, so
  // the prototype's `_query` is wrapped, once, and finds the naming of the database by the config it carries.
  const client = knex.client as unknown as KnexPgClient & { config: object };
  const proto = Object.getPrototypeOf(client) as KnexPgClient & { [WRAPPED]?: true };
  if (!Object.prototype.hasOwnProperty.call(proto, WRAPPED)) {
    const original = proto._query;
    proto._query = function (this: KnexPgClient & { config: object }, connection, obj) {
      const run: QueryRunner = (c, o) => original.call(this, c, o);
      const namer = namers.get(this.config);
      return namer ? namer(run, connection, obj) : run(connection, obj);
    };
    Object.defineProperty(proto, WRAPPED, { value: true });
  }
  const seen = new Map<string, number>();
  const names = new Map<string, string>();
  const perConnection = new WeakMap<object, Set<string>>();
  let generation = 0;

  namers.set(client.config, async (run, connection, obj) => {
    // Statements without parameters go out as simple queries (BEGIN, COMMIT, DDL): nothing to prepare.
    const name = obj.bindings?.length && !obj.options?.name ? nameFor(obj.sql) : undefined;
    if (!name || !hold(connection, name)) return run(connection, obj);
    obj.options = { ...obj.options, name };
    try {
      return await run(connection, obj);
    } catch (err) {
      // A migration changed a table under a prepared `SELECT *` ("cached plan must not change result type"):
      // the text is prepared anew under another name on every connection. Outside a transaction this run is
      // retried; inside one the failed statement has aborted it (knex marks the connection that holds one).
      if ((err as { code?: string }).code !== '0A000' || !/cached plan/.test((err as Error).message)) throw err;
      const renamed = `cc_${++generation}`;
      names.set(obj.sql, renamed);
      if ((connection as { __knexTxId?: string }).__knexTxId || !hold(connection, renamed)) throw err;
      obj.options = { ...obj.options, name: renamed };
      return run(connection, obj);
    }
  });

  function hold(connection: object, name: string): boolean {
    let held = perConnection.get(connection);
    if (!held) perConnection.set(connection, (held = new Set()));
    if (!held.has(name) && held.size >= MAX_PER_CONNECTION) return false;
    held.add(name);
    return true;
  }

  function nameFor(sql: string): string | undefined {
    const known = names.get(sql);
    if (known) return known;
    const count = (seen.get(sql) ?? 0) + 1;
    if (count < REPEATED_AFTER || names.size >= MAX_NAMED) {
      if (seen.size >= MAX_COUNTED) seen.clear();
      seen.set(sql, count);
      return undefined;
    }
    seen.delete(sql);
    const name = `cc_${++generation}`;
    names.set(sql, name);
    return name;
  }
}
