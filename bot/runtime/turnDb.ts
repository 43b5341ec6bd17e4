/**
 * The database of one engine turn. Most turns only read (a menu, slot offers)
 * and end in one guarded statement (saveTurn), so a turn starts without a
 * transaction or a lock: that saves BEGIN, the row lock and COMMIT, three of a
 * short turn's round trips. The first write opens the transaction and locks
 * the conversation, if its state_version is still the one the turn started
 * from (the locked path's lock order, conversation first); otherwise the turn
 * is stale and the engine plays it again under the lock.
 */
import type { Knex } from 'knex';
import type { Db, OrgScope } from '../../models/base.js';
import { lockConversationAtVersion } from '../../models/turns.js';

export interface TurnDb {
  /** For reads: the turn's transaction once one is open, else the pool (each read its own statement). */
  readonly reader: Db;
  /** The turn's transaction, with the conversation locked; opened on first use. Throws StaleTurnError when the conversation moved on. */
  writer(): Promise<Knex.Transaction>;
}

/** Another turn or a staff action changed the conversation after this turn read it: play the turn again under the lock. */
export class StaleTurnError extends Error {
  constructor() {
    super('the conversation changed while the turn ran');
    this.name = 'StaleTurnError';
  }
}

/** The locked path: the transaction exists and holds the conversation's lock from the start. */
export function lockedTurnDb(trx: Knex.Transaction): TurnDb {
  return { reader: trx, writer: async () => trx };
}

/** The optimistic path: no transaction until the first write (see the file comment). */
export class OptimisticTurnDb implements TurnDb {
  private trx: Knex.Transaction | null = null;
  private opening: Promise<Knex.Transaction> | null = null;

  constructor(private readonly knex: Knex, private readonly scope: OrgScope, private readonly conversationId: string, private readonly version: number) {}

  get reader(): Db {
    return this.trx ?? this.knex;
  }

  writer(): Promise<Knex.Transaction> {
    this.opening ??= this.open();
    return this.opening;
  }

  private async open(): Promise<Knex.Transaction> {
    const trx = await this.knex.transaction();
    this.trx = trx;
    if (!(await lockConversationAtVersion(trx, this.scope, this.conversationId, this.version))) throw new StaleTurnError();
    return trx;
  }

  async commit(): Promise<void> {
    if (this.trx && !this.trx.isCompleted()) await this.trx.commit();
  }

  /** Undoes whatever the turn wrote; safe to call more than once, and when nothing was opened. */
  async rollback(): Promise<void> {
    const opening = this.opening;
    if (opening) await opening.catch(() => undefined);
    if (this.trx && !this.trx.isCompleted()) await this.trx.rollback();
  }
}
