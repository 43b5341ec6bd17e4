/** Shared Objection base: timestamps as Date, JSON columns parsed by pg. */
import { Model, type QueryContext, type Transaction } from 'objection';
import type { Knex } from 'knex';
import { openColumns, sealEventData } from './encryption.js';

export class BaseModel extends Model {
  static override get modelPaths(): string[] {
    return [];
  }

  /** Columns stored sealed (models/encryption.ts, SEALED_COLUMNS): opened after every find. */
  static sealedColumns: readonly string[] = [];

  override $afterFind(context: QueryContext): void {
    const sealed = (this.constructor as typeof BaseModel).sealedColumns;
    if (sealed.length > 0) openColumns(context.transaction as Db, this, sealed);
  }

  /** A model from a row a raw statement (or a RETURNING) read, its sealed columns opened as a find would. */
  static fromRow<M extends BaseModel>(this: (new () => M) & typeof BaseModel, db: Db, row: object): M {
    return openColumns(db, this.fromDatabaseJson(row) as M, this.sealedColumns);
  }
}

/** A transaction or the root connection: domain operations accept either. */
export type Db = Knex | Knex.Transaction | Transaction;

/** The tenant every domain operation runs for. */
export interface OrgScope {
  organizationId: string;
}

/** Writes a domain event in the caller's transaction (delivered after commit by a scheduler); its free text is sealed (sealEventData). */
export async function recordEvent(db: Db, orgId: string, event: string, subjectId: string | null, data: unknown, id: string): Promise<void> {
  await (db as Knex)('events').insert({ id, organization_id: orgId, event, subject_id: subjectId, data: JSON.stringify(sealEventData(db, data)) });
}

/** A value for ILIKE matched literally: its own %, _ and backslash escaped. */
export const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);
