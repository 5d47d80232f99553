/**
 * Where SQLite and PostgreSQL spell the same thing differently. The stores write one SQL text
 * and call these for the few expressions that differ; anything else both databases run as is.
 */
export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** The larger of two values (a scalar, not the aggregate). */
  greatest(a: string, b: string): string;
  /** True when `haystack` contains `needle` (no pattern characters: `%` and `_` mean themselves). */
  contains(haystack: string, needle: string): string;
  /**
   * True when `text` matches the LIKE `pattern` (`\` escapes), ASCII letters in either case: what
   * `lower(text)` and a lower-case pattern give, without lowering every row first.
   */
  likeIgnoringCase(text: string, pattern: string): string;
  /**
   * A statement run inside a transaction before it appends to the webhook outbox, so that
   * sequence numbers are handed out in commit order (readers deliver by sequence number and must
   * never see a later number commit before an earlier one); absent where transactions never
   * run at the same time.
   */
  readonly serialiseOutbox?: string;
  /**
   * A one-column subquery of the strings in the JSON array bound at its `?`: a whole list in
   * one parameter, so a set-based statement takes any number of values in one round trip.
   */
  readonly jsonTexts: string;
  /** A schema definition written for SQLite, as this database takes it. */
  schema(sql: string): string;
}

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  greatest: (a, b) => `max(${a}, ${b})`,
  contains: (haystack, needle) => `instr(${haystack}, ${needle}) > 0`,
  jsonTexts: 'SELECT value FROM json_each(?)',
  // SQLite's LIKE ignores the case of ASCII letters only, as its lower() lowers only those.
  likeIgnoringCase: (text, pattern) => `${text} LIKE ${pattern} ESCAPE '\\'`,
  schema: (sql) => sql,
};

/** An arbitrary constant: the advisory lock that orders outbox writers. */
const OUTBOX_LOCK = 0x6265727468_01;

export const postgresDialect: Dialect = {
  name: 'postgres',
  greatest: (a, b) => `greatest(${a}, ${b})`,
  contains: (haystack, needle) => `strpos(${haystack}, ${needle}) > 0`,
  // Text is COLLATE "C" (schema below): ILIKE folds ASCII letters only, as lower() does there.
  likeIgnoringCase: (text, pattern) => `${text} ILIKE ${pattern} ESCAPE '\\'`,
  serialiseOutbox: `SELECT pg_advisory_xact_lock(${OUTBOX_LOCK})`,
  jsonTexts: 'SELECT jsonb_array_elements_text(CAST(? AS jsonb))',
  // Times are milliseconds and sizes bytes: every integer is 64-bit. Row ids are sequences.
  // Text compares by bytes, as in SQLite, whatever the database's collation: names and tags
  // list in byte order (the distribution spec's lexical order) and page by `name > ?`.
  schema: (sql) =>
    sql
      .replace(/\bTEXT\b/g, 'TEXT COLLATE "C"')
      .replace(/\bINTEGER PRIMARY KEY( AUTOINCREMENT)?/g, 'BIGSERIAL PRIMARY KEY')
      .replace(/\bINTEGER\b/g, 'BIGINT')
      .replace(/\bBLOB\b/g, 'BYTEA')
      .replace(/\)\s*WITHOUT ROWID/g, ')'),
};
