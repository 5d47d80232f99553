import { openDatabase } from '../app-stores.js';
import { loadConfig } from '../config/load.js';
import { KNOWN_SCHEMA_VERSION, migrate, SchemaTooNewError } from '../metadata/sql/migrate.js';
import { parseCommand, type CommandSpec, type OptionsConfig } from './arguments.js';

/**
 * `berth migrate [config.yml]`: brings the metadata database's schema up to this Berth's
 * version. `berth serve` does the same at start; this runs it ahead of a rollout. Migrations are
 * additive, so replicas of the previous version keep serving meanwhile; replicas starting
 * together take turns (a database lock), and a schema newer than this Berth is refused.
 */
export const MIGRATE_USAGE = 'berth migrate [config.yml]';

const MIGRATE_COMMAND = {
  help: `usage: ${MIGRATE_USAGE}

Applies the metadata schema migrations this Berth knows (version ${KNOWN_SCHEMA_VERSION}) to the configured database
(SQLite, or PostgreSQL with database.enabled). Safe while older replicas serve: migrations only add.`,
  options: {},
  positionals: { min: 0, max: 1 },
} satisfies CommandSpec<OptionsConfig>;

export async function migrateCommand(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(MIGRATE_COMMAND, args, out);
  if (!parsed) return 0;
  const { config } = loadConfig(parsed.positionals[0]);
  const database = await openDatabase(config);
  try {
    const { applied, version } = await migrate(database);
    out.write(applied.length === 0 ? `${database.description}: schema is current (version ${version})\n` : `${database.description}: applied ${applied.join(', ')}; schema at version ${version}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof SchemaTooNewError)) throw error;
    err.write(`berth: ${error.message}\n`);
    return 1;
  } finally {
    await database.close();
  }
}
