import type { SqlDatabase, SqlValue } from './database.js';

/**
 * What a move to another database carries, parents before children (foreign keys). Left
 * behind: upload sessions (their bytes stay with the old storage; clients start over), leases
 * and live instances (they describe running processes), and the schema version (the target
 * runs its own migrations first).
 */
const TABLES = [
  'repositories',
  'blobs',
  'repository_blobs',
  'manifests',
  'manifest_references',
  'tags',
  'repository_stats',
  'repository_trigrams',
  'users',
  'roles',
  'role_permissions',
  'user_roles',
  'imports',
  'outbox_events',
  'webhook_endpoints',
  'audit_events',
  'policy_rules',
] as const;

/** A target with rows here already serves a registry; the rest may hold what migrations seeded. */
const HOLDS_A_REGISTRY = ['repositories', 'blobs', 'users'] as const;

/** Columns whose values the database generates; after a copy its counter must start past them. */
const GENERATED: Partial<Record<(typeof TABLES)[number], string>> = {
  repositories: 'id',
  users: 'id',
  roles: 'id',
  outbox_events: 'seq',
  audit_events: 'id',
};

const BATCH = 500;

export class TargetNotEmptyError extends Error {
  constructor(description: string, table: string) {
    super(`${description} already holds ${table}: a move goes into an empty database`);
    this.name = 'TargetNotEmptyError';
  }
}

/**
 * Copies every row of the registry's tables from one database to another of the same schema
 * version (either dialect), in one transaction on the target: it holds everything or nothing.
 */
export async function copyMetadata(source: SqlDatabase, target: SqlDatabase, onTable?: (table: string, rows: number) => void): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await target.transaction(async (tx) => {
    for (const table of HOLDS_A_REGISTRY) {
      if (await tx.get(`SELECT 1 AS found FROM ${table} LIMIT 1`)) throw new TargetNotEmptyError(target.description, table);
    }
    // What migrations seeded (the built-in roles) gives way to the source's rows.
    for (const table of [...TABLES].reverse()) await tx.run(`DELETE FROM ${table}`);
    for (const table of TABLES) {
      const key = GENERATED[table];
      let copied = 0;
      // A table is read whole: rows are small (metadata, never content).
      const rows = await source.all<Record<string, SqlValue>>(`SELECT * FROM ${table}`);
      for (let start = 0; start < rows.length; start += BATCH) {
        const batch = rows.slice(start, start + BATCH);
        const columns = Object.keys(batch[0]!);
        const placeholders = `(${columns.map(() => '?').join(', ')})`;
        await tx.run(
          `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${batch.map(() => placeholders).join(', ')}`,
          batch.flatMap((row) => columns.map((column) => row[column] ?? null)),
        );
        copied += batch.length;
      }
      if (key && copied > 0 && target.dialect.name === 'postgres') {
        await tx.get(`SELECT setval(pg_get_serial_sequence('${table}', '${key}'), (SELECT max(${key}) FROM ${table}))`);
      }
      counts[table] = copied;
      onTable?.(table, copied);
    }
  });
  return counts;
}
