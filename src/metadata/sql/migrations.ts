/**
 * Versioned schema, one list for every database. A migration is never edited once released:
 * add a new one, additive only (new tables, columns, indexes), so replicas still running the
 * previous version keep working while the next starts. Each runs in its own transaction and
 * records itself in `schema_migrations` (see `migrate.ts`).
 *
 * `sql` is written for SQLite and translated by the dialect (`Dialect.schema`: 64-bit
 * integers, sequences, BYTEA); what cannot be translated is given per database beside it.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** Run after `sql`, on that database only. */
  only?: { sqlite?: string; postgres?: string };
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'repositories, blobs, links, manifests, references, tags, uploads',
    sql: `
      CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
      );

      -- Every content-addressed object in storage (layers, configs and manifests).
      CREATE TABLE blobs (
        digest TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- A blob is visible in a repository only through a link.
      CREATE TABLE repository_blobs (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT NOT NULL REFERENCES blobs(digest),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
      ) WITHOUT ROWID;
      CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

      CREATE TABLE manifests (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT NOT NULL REFERENCES blobs(digest),
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        artifact_type TEXT,
        annotations TEXT,
        subject TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
      ) WITHOUT ROWID;
      CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
      CREATE INDEX manifests_digest ON manifests(digest);

      CREATE TABLE manifest_references (
        repository_id INTEGER NOT NULL,
        manifest_digest TEXT NOT NULL,
        child_digest TEXT NOT NULL,
        child_kind TEXT NOT NULL CHECK (child_kind IN ('blob', 'manifest')),
        PRIMARY KEY (repository_id, manifest_digest, child_kind, child_digest),
        FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
      ) WITHOUT ROWID;
      CREATE INDEX manifest_references_child ON manifest_references(child_digest);

      CREATE TABLE tags (
        repository_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        manifest_digest TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, name),
        FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
      ) WITHOUT ROWID;
      CREATE INDEX tags_manifest ON tags(repository_id, manifest_digest);

      CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        repository_name TEXT NOT NULL,
        byte_offset INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX uploads_updated_at ON uploads(updated_at);
    `,
  },
  {
    version: 2,
    description: 'garbage collection: leases, live instances, last-pulled times',
    sql: `
      -- One holder at a time per name (e.g. 'gc'); a crashed holder's lease runs out.
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Servers using this database, refreshed by heartbeat; offline tools refuse to run beside them.
      CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Written in batches from memory, never per pull.
      ALTER TABLE manifests ADD COLUMN last_pulled_at INTEGER;
      CREATE INDEX repository_blobs_created_at ON repository_blobs(created_at);
    `,
  },
  {
    version: 3,
    description: 'access control: users, roles, role permissions (auth/AccessStore)',
    sql: `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE roles (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL
      );

      -- actions: a comma-separated subset of pull,push,delete,admin; pattern: a name, 'team-a/*' or '*'.
      CREATE TABLE role_permissions (
        role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        pattern TEXT NOT NULL,
        actions TEXT NOT NULL,
        PRIMARY KEY (role_id, pattern)
      ) WITHOUT ROWID;

      CREATE TABLE user_roles (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, role_id)
      ) WITHOUT ROWID;
      CREATE INDEX user_roles_role ON user_roles(role_id);

      -- Built in: 'admin' (everything, user management included) and 'anonymous' (what clients
      -- without credentials may pull; empty, so anonymous access is off until granted).
      INSERT INTO roles (name, description, created_at) VALUES
        ('admin', 'everything, including user and role management', 0),
        ('anonymous', 'what clients without credentials may pull (pull only)', 0);
      INSERT INTO role_permissions (role_id, pattern, actions)
        SELECT id, '*', 'admin' FROM roles WHERE name = 'admin';
    `,
  },
  {
    version: 4,
    description: 'imports: finished imports of another registry\'s data (registry:2 trees)',
    sql: `
      CREATE TABLE imports (
        source TEXT PRIMARY KEY,
        finished_at INTEGER NOT NULL,
        summary TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    description: 'garbage collection grace by touch: when a link was last touched (upload, mount, HEAD) and last referenced by a stored manifest',
    sql: `
      -- A link no manifest references is kept only while it was touched after a manifest
      -- referencing it was last stored, and within the grace period (core/garbage-collector.ts).
      ALTER TABLE repository_blobs ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE repository_blobs ADD COLUMN referenced_at INTEGER NOT NULL DEFAULT 0;
      UPDATE repository_blobs SET touched_at = created_at;
    `,
  },
  {
    version: 6,
    description: 'operations: the webhook outbox with per-endpoint delivery state, and the audit trail',
    sql: `
      -- Events written in the same transaction as the change they describe (core/notifications/outbox.ts).
      CREATE TABLE outbox_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        repository TEXT NOT NULL,
        action TEXT NOT NULL,
        media_type TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        payload TEXT NOT NULL
      );

      -- Each endpoint has delivered every event up to delivered_seq, in order.
      CREATE TABLE webhook_endpoints (
        name TEXT PRIMARY KEY,
        delivered_seq INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_error_at INTEGER,
        last_success_at INTEGER
      ) WITHOUT ROWID;

      -- Append-only: rows are added and, past the retention period, dropped; never changed.
      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        repository TEXT,
        target TEXT,
        address TEXT,
        detail TEXT
      );
      CREATE INDEX audit_events_at ON audit_events(at);
      CREATE INDEX audit_events_repository ON audit_events(repository, at);
    `,
    only: {
      sqlite: `
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
      `,
      postgres: `
        CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$;
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
          FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
      `,
    },
  },
  {
    version: 7,
    description: 'search and browsing: the description and platforms of each manifest, the description of each repository (its latest tagged push)',
    sql: `
      -- From the org.opencontainers.image.description annotation or config label (core/image-description.ts).
      ALTER TABLE manifests ADD COLUMN description TEXT;
      -- os/architecture[/variant], comma-separated: an image's own, an index's children's.
      ALTER TABLE manifests ADD COLUMN platforms TEXT;
      -- The description of the manifest a tag was last pushed to; what docker search shows.
      ALTER TABLE repositories ADD COLUMN description TEXT;
    `,
  },
  {
    version: 8,
    description: 'resumable uploads on any replica: the saved digest state and the upload storage state of each session',
    sql: `
      ALTER TABLE uploads ADD COLUMN hash_state BLOB;
      ALTER TABLE uploads ADD COLUMN storage_state TEXT;
    `,
  },
  {
    version: 9,
    description: 'web UI sessions in the database, so whichever replica a browser reaches knows its login',
    sql: `
      -- The cookie is never stored, only its sha256: a copy of the database logs nobody in.
      CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,
        user_name TEXT,
        principal TEXT NOT NULL,
        operator INTEGER NOT NULL,
        csrf TEXT NOT NULL,
        must_change_password INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX web_sessions_user ON web_sessions(user_name);
      CREATE INDEX web_sessions_last_used ON web_sessions(last_used_at);
    `,
  },
  {
    version: 10,
    description: 'repository policies administered in the web UI, applied before the configuration\'s',
    sql: `
      CREATE TABLE policy_rules (
        pattern TEXT PRIMARY KEY,
        rule TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      );
    `,
  },
  {
    version: 11,
    description: 'browsing at scale: per-repository statistics (tags, manifests, distinct bytes, last push, last pull) kept by the transactions that change them',
    sql: `
      -- What the repository list sorts and shows, one row per repository: the list is a query over
      -- this table instead of aggregating every tag, manifest and link (sql-store.ts keeps it).
      CREATE TABLE repository_stats (
        repository_id INTEGER NOT NULL PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
        tags INTEGER NOT NULL DEFAULT 0,
        manifests INTEGER NOT NULL DEFAULT 0,
        -- Distinct linked blobs and stored manifests, each counted once.
        bytes INTEGER NOT NULL DEFAULT 0,
        -- The newest manifest stored or tag moved; NULL while the repository holds no manifest.
        pushed_at INTEGER,
        pulled_at INTEGER
      );
      INSERT INTO repository_stats (repository_id, tags, manifests, bytes, pushed_at, pulled_at)
        SELECT r.id,
               (SELECT count(*) FROM tags t WHERE t.repository_id = r.id),
               (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id),
               (SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.digest IN
                  (SELECT l.digest FROM repository_blobs l WHERE l.repository_id = r.id UNION SELECT m.digest FROM manifests m WHERE m.repository_id = r.id)),
               (SELECT max(times.at) FROM (SELECT max(m.created_at) AS at FROM manifests m WHERE m.repository_id = r.id
                                           UNION ALL SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = r.id) AS times),
               (SELECT max(m.last_pulled_at) FROM manifests m WHERE m.repository_id = r.id)
        FROM repositories r;
    `,
  },
  {
    version: 12,
    description: 'search at scale: trigrams of each repository name and lower-cased description, so a search starts from the repositories holding its rarest trigram',
    sql: `
      CREATE TABLE repository_trigrams (
        trigram TEXT NOT NULL,
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        PRIMARY KEY (trigram, repository_id)
      ) WITHOUT ROWID;
      CREATE INDEX repository_trigrams_repository ON repository_trigrams(repository_id);
      INSERT INTO repository_trigrams (trigram, repository_id)
        WITH RECURSIVE
          texts (repository_id, body) AS (
            SELECT r.id, r.name FROM repositories r WHERE true
            UNION SELECT r.id, lower(r.description) FROM repositories r WHERE true AND r.description IS NOT NULL),
          positions (repository_id, body, position) AS (
            SELECT repository_id, body, 1 FROM texts WHERE length(body) >= 3
            UNION ALL SELECT repository_id, body, position + 1 FROM positions WHERE position + 3 <= length(body))
        SELECT DISTINCT substr(body, position, 3), repository_id FROM positions WHERE true;
    `,
  },
  {
    version: 13,
    description: 'proxy caches: a repository a pull-through cache filled is marked, so expiry removes only what a cache fetched',
    sql: `
      -- 1 once a proxy stored the repository's first manifest; a repository holding pushed images never is.
      ALTER TABLE repositories ADD COLUMN proxy_cache INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 14,
    description: 'small blobs (manifests, configs, tiny layers) keep their bytes in their row: created and deleted with it, so a collection deletes no file for them',
    sql: `
      -- NULL: the bytes are in storage at the blob's content address (every blob before this version).
      ALTER TABLE blobs ADD COLUMN content BLOB;
    `,
  },
];
