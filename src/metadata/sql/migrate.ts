import type { SqlDatabase } from './database.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** The database was migrated by a newer Berth: this one does not know its schema. */
export class SchemaTooNewError extends Error {
  readonly code = 'SCHEMA_TOO_NEW';
  constructor(
    readonly databaseVersion: number,
    readonly knownVersion: number,
  ) {
    super(`the metadata database is at schema version ${databaseVersion}, newer than this Berth knows (${knownVersion}); upgrade Berth`);
  }
}

export interface MigrationReport {
  /** Versions this run applied, in order (empty when the schema was current). */
  applied: number[];
  /** The schema version the database is at now. */
  version: number;
}

export const KNOWN_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((migration) => migration.version));

/**
 * Brings the schema up to date: each missing version in its own transaction, recorded with
 * it. Holding the database-wide migration lock, so replicas starting together apply each
 * version once; a database a newer Berth has migrated is refused (additive migrations keep
 * older replicas serving, but an older binary must not touch a schema it does not know).
 */
export async function migrate(db: SqlDatabase, now: () => number = Date.now, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationReport> {
  return db.exclusively('berth schema migrations', async () => {
    await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const rows = await db.all<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => Number(row.version)));
    const newest = Math.max(0, ...done);
    const known = Math.max(...migrations.map((migration) => migration.version));
    if (newest > known) throw new SchemaTooNewError(newest, known);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await db.transaction(async (tx) => {
        await tx.exec(db.dialect.schema(migration.sql));
        const own = migration.only?.[db.dialect.name];
        if (own) await tx.exec(own);
        await tx.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [migration.version, now()]);
      });
      applied.push(migration.version);
    }
    return { applied, version: Math.max(newest, ...applied) };
  });
}
