import { SqliteDatabase } from '../sql/sqlite-database.js';
import { SqlMetadataStore } from '../sql/sql-store.js';

/** The embedded metadata store: `SqlMetadataStore` on a SQLite file (migrated as it opens). */
export function openSqliteMetadataStore(path: string, clock: () => number = Date.now): Promise<SqlMetadataStore> {
  return SqlMetadataStore.open(new SqliteDatabase(path), clock);
}
