/**
 * Migrations are imported statically (not discovered on disk) so the same list
 * runs under tsx, after a build, and on both database backends.
 */
import type { Knex } from 'knex';
import * as core from './001_core.js';
import * as messaging from './002_messaging.js';

interface Migration { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> }

const migrations: Record<string, Migration> = {
  '001_core': core,
  '002_messaging': messaging,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
