import type { RepositorySort, SortOrder } from '../store.js';
import type { Dialect } from './dialect.js';

/**
 * Columns are always named, never `*`: PostgreSQL refuses a prepared statement whose result
 * columns changed, and a newer replica's migration may add columns while this one serves.
 */
const UPLOAD_COLUMNS = 'id, repository_name, byte_offset, created_at, updated_at, hash_state, storage_state';
export const MANIFEST_COLUMNS = 'm.digest, m.media_type, m.size, m.artifact_type, m.annotations, m.subject, m.description, m.platforms, m.created_at';

/** The repository's id, by the name bound at this `?`. */
const repo = '(SELECT id FROM repositories WHERE name = ?)';

/**
 * Every statement of `SqlMetadataStore`, as SQL text both databases run; the dialect fills in
 * the few expressions they spell differently. Built once per store.
 */
export function metadataStatements(dialect: Dialect) {
  return {
    insertOutbox: 'INSERT INTO outbox_events (repository, action, media_type, created_at, payload) VALUES (?, ?, ?, ?, ?)',
    // Sequence numbers are never reused (AUTOINCREMENT, a sequence): after a prune the newest
    // remaining event, or none, is still the right place for a new endpoint to start.
    newestOutboxSeq: 'SELECT coalesce(max(seq), 0) AS seq FROM outbox_events',
    registerEndpoint: 'INSERT INTO webhook_endpoints (name, delivered_seq) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
    pendingEvents:
      'SELECT seq, repository, action, media_type, created_at, payload FROM outbox_events WHERE seq > (SELECT delivered_seq FROM webhook_endpoints WHERE name = ?) ORDER BY seq LIMIT ?',
    recordDelivery: `UPDATE webhook_endpoints SET delivered_seq = ${dialect.greatest('delivered_seq', '?')}, failures = 0, next_attempt_at = 0,
                     last_success_at = coalesce(?, last_success_at) WHERE name = ?`,
    recordFailure: 'UPDATE webhook_endpoints SET failures = failures + 1, last_error = ?, last_error_at = ?, next_attempt_at = ? WHERE name = ?',
    endpointState: `SELECT e.name, e.delivered_seq, e.failures, e.next_attempt_at, e.last_error, e.last_error_at, e.last_success_at,
                           (SELECT count(*) FROM outbox_events o WHERE o.seq > e.delivered_seq) AS pending
                    FROM webhook_endpoints e WHERE e.name = ?`,
    deliveredSeq: 'SELECT delivered_seq FROM webhook_endpoints WHERE name = ?',
    pruneOutbox: 'DELETE FROM outbox_events WHERE seq <= ?',
    insertAudit: 'INSERT INTO audit_events (at, actor, action, repository, target, address, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
    pruneAudit: 'DELETE FROM audit_events WHERE at < ?',
    listPolicyRules: 'SELECT pattern, rule, updated_at, updated_by FROM policy_rules ORDER BY pattern',
    putPolicyRule: `INSERT INTO policy_rules (pattern, rule, updated_at, updated_by) VALUES (?, ?, ?, ?)
                    ON CONFLICT (pattern) DO UPDATE SET rule = excluded.rule, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    removePolicyRule: 'DELETE FROM policy_rules WHERE pattern = ?',
    insertRepository: 'INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
    // Only a repository whose first manifest a cache stores: one holding pushed images stays unmarked.
    markProxyCache: 'UPDATE repositories SET proxy_cache = 1 WHERE id = ? AND proxy_cache = 0 AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id)',
    proxyCacheRepositories: 'SELECT name FROM repositories WHERE proxy_cache = 1 ORDER BY name',
    isProxyCache: 'SELECT proxy_cache FROM repositories WHERE name = ?',
    repositoryId: 'SELECT id FROM repositories WHERE name = ?',
    repositoryListed: `SELECT 1 AS found FROM repositories r WHERE r.name = ?
                         AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
                              OR EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repository_id = r.id))`,
    repositoryName: 'SELECT name FROM repositories WHERE id = ?',
    // A repository is listed while it holds a manifest or a blob link; garbage collection
    // removes it once it holds neither, so _catalog and tags/list always agree.
    listRepositories: `SELECT r.name FROM repositories r
                       WHERE r.name > ? AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
                                             OR EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repository_id = r.id))
                       ORDER BY r.name LIMIT ?`,
    importFinishedAt: 'SELECT finished_at FROM imports WHERE source = ?',
    recordImportFinished:
      'INSERT INTO imports (source, finished_at, summary) VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET finished_at = excluded.finished_at, summary = excluded.summary',
    // A blob recorded already keeps where its bytes are (its row, or storage): the same bytes either way.
    insertBlob: 'INSERT INTO blobs (digest, size, created_at, content) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING',
    inlineBlob: 'SELECT content FROM blobs WHERE digest = ? AND content IS NOT NULL',
    insertLink: `INSERT INTO repository_blobs (repository_id, digest, created_at, touched_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = ${dialect.greatest('repository_blobs.touched_at', 'excluded.touched_at')}`,
    touchLink: `UPDATE repository_blobs SET touched_at = ${dialect.greatest('touched_at', '?')} WHERE repository_id = ${repo} AND digest = ?`,
    referenceLink: 'UPDATE repository_blobs SET referenced_at = ? WHERE repository_id = ? AND digest = ?',
    linkExists: `SELECT 1 AS found FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`,
    linkedBlobSize: `SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repository_id = ${repo} AND l.digest = ?`,
    deleteLink: `DELETE FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`,
    manifestExists: `SELECT 1 AS found FROM manifests WHERE repository_id = ${repo} AND digest = ?`,
    manifestByDigest: `SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repository_id = ${repo} AND m.digest = ?`,
    manifestByTag: `SELECT ${MANIFEST_COLUMNS} FROM tags t
                    JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
                    WHERE t.repository_id = ${repo} AND t.name = ?`,
    insertManifest: `INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, annotations, subject, description, platforms, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ...repositoryStatistics(dialect),
    tagSummaries: `SELECT t.name, t.manifest_digest AS digest, m.media_type, m.platforms, t.updated_at, m.last_pulled_at,
                          m.size + (SELECT COALESCE(SUM(b.size), 0) FROM manifest_references mr JOIN blobs b ON b.digest = mr.child_digest
                                    WHERE mr.repository_id = m.repository_id AND mr.manifest_digest = m.digest) AS bytes
                   FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
                   WHERE t.repository_id = ${repo} ORDER BY t.name`,
    blobSize: 'SELECT size FROM blobs WHERE digest = ?',
    searchRepositories: searchRepositories(dialect, false),
    searchRepositoriesByTrigram: searchRepositories(dialect, true),
    // How many repositories hold a trigram, counted up to a bound: a common one is not worth starting from.
    trigramPostings: 'SELECT count(*) AS n FROM (SELECT 1 AS one FROM repository_trigrams WHERE trigram = ? LIMIT ?) AS postings',
    describeRepositoryIfChanged: 'UPDATE repositories SET description = ? WHERE id = ? AND description IS DISTINCT FROM ?',
    deleteTrigrams: 'DELETE FROM repository_trigrams WHERE repository_id = ?',
    // Trigrams by code point (substr and length count characters in both databases), of the
    // name and of the description lowered as lower() lowers it (ASCII letters): what a
    // search's lower-case term must hold every trigram of to match (migration 12 backfills so).
    insertTrigrams: `INSERT INTO repository_trigrams (trigram, repository_id)
                     WITH RECURSIVE
                       texts (repository_id, body) AS (
                         SELECT r.id, r.name FROM repositories r WHERE r.id = ?
                         UNION SELECT r.id, lower(r.description) FROM repositories r WHERE r.id = ? AND r.description IS NOT NULL),
                       positions (repository_id, body, position) AS (
                         SELECT repository_id, body, 1 FROM texts WHERE length(body) >= 3
                         UNION ALL SELECT repository_id, body, position + 1 FROM positions WHERE position + 3 <= length(body))
                     SELECT DISTINCT substr(body, position, 3), repository_id FROM positions WHERE true`,
    insertReference: 'INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, child_kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    upsertTag: `INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`,
    deleteManifest: `DELETE FROM manifests WHERE repository_id = ${repo} AND digest = ?`,
    deleteTag: `DELETE FROM tags WHERE repository_id = ${repo} AND name = ?`,
    listTags: `SELECT name FROM tags WHERE repository_id = ${repo} AND name > ? ORDER BY name LIMIT ?`,
    referrers: `SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repository_id = ${repo} AND m.subject = ? ORDER BY m.digest`,
    insertUpload: 'INSERT INTO uploads (id, repository_name, byte_offset, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
    upload: `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`,
    recordUploadProgress: 'UPDATE uploads SET byte_offset = ?, updated_at = ?, hash_state = ?, storage_state = ? WHERE id = ?',
    deleteUpload: 'DELETE FROM uploads WHERE id = ?',
    uploadsBefore: `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE updated_at < ? ORDER BY updated_at`,
    removeStaleLinks: `DELETE FROM repository_blobs
                       WHERE NOT (touched_at > referenced_at AND touched_at >= ?)
                         AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                                         WHERE mr.repository_id = repository_blobs.repository_id AND mr.child_digest = repository_blobs.digest AND mr.child_kind = 'blob')
                       RETURNING repository_id, digest`,
    protectedLinks: `SELECT count(*) AS count, coalesce(sum(b.size), 0) AS bytes FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
                     WHERE l.touched_at > l.referenced_at AND l.touched_at >= ?
                       AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                                       WHERE mr.repository_id = l.repository_id AND mr.child_digest = l.digest AND mr.child_kind = 'blob')`,
    storedTotals: 'SELECT count(*) AS count, coalesce(sum(size), 0) AS bytes FROM blobs',
    untaggedManifests: `SELECT count(*) AS count, coalesce(sum(m.size), 0) AS bytes FROM manifests m
                        WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)`,
    uploadTotals: 'SELECT count(*) AS count, coalesce(sum(byte_offset), 0) AS bytes FROM uploads',
    deleteRepository: 'DELETE FROM repositories WHERE name = ?',
    deleteRepositoryUploads: 'DELETE FROM uploads WHERE repository_name = ? RETURNING id',
    unreachableManifests: UNREACHABLE_MANIFESTS,
    deleteManifestById: 'DELETE FROM manifests WHERE repository_id = ? AND digest = ?',
    unreferencedBlobs: `SELECT b.digest, b.size FROM blobs b
                        WHERE NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
                          AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`,
    // The digests are one JSON array: a batch is one statement, whatever its size.
    forgetBlobsIfUnreferenced: `DELETE FROM blobs WHERE digest IN (${dialect.jsonTexts})
                                  AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = blobs.digest)
                                  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = blobs.digest)
                                RETURNING digest, CASE WHEN content IS NULL THEN 0 ELSE 1 END AS inline`,
    blobRecorded: 'SELECT 1 AS found FROM blobs WHERE digest = ?',
    removeEmptyRepositories: `DELETE FROM repositories
                              WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id)
                                AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repository_id = repositories.id)
                              RETURNING name`,
    acquireLease: `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                   WHERE leases.expires_at < ? OR leases.holder = ?`,
    releaseLease: 'DELETE FROM leases WHERE name = ? AND holder = ?',
    heartbeat: `INSERT INTO instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
    removeInstance: 'DELETE FROM instances WHERE id = ?',
    liveInstances: 'SELECT id FROM instances WHERE heartbeat_at > ?',
    taggedDigest: `SELECT manifest_digest FROM tags WHERE repository_id = ${repo} AND name = ?`,
    usageOfRepository: usage('r.name = ?'),
    // Quota patterns are names with `*` (auth/patterns.ts), matched as LIKE patterns (`globToLike`).
    usageOfPattern: usage("r.name LIKE ? ESCAPE '\\'"),
    listUsage: `SELECT r.name,
                       (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
                          (SELECT digest FROM repository_blobs WHERE repository_id = r.id UNION SELECT digest FROM manifests WHERE repository_id = r.id)) AS bytes,
                       (SELECT COUNT(*) FROM repository_blobs WHERE repository_id = r.id) AS blobs,
                       (SELECT COUNT(*) FROM manifests WHERE repository_id = r.id) AS manifests,
                       (SELECT COUNT(*) FROM tags WHERE repository_id = r.id) AS tags
                FROM repositories r ORDER BY r.name`,
    taggedRepositories: 'SELECT r.name FROM repositories r WHERE EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = r.id) ORDER BY r.name',
    tagDetails: `SELECT t.name, t.manifest_digest, t.updated_at, m.last_pulled_at FROM tags t
                 JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
                 WHERE t.repository_id = ${repo} ORDER BY t.updated_at DESC, t.name`,
    removeIfOrphanedManifest: `DELETE FROM manifests WHERE repository_id = ${repo} AND digest = ?
                                 AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = manifests.repository_id AND t.manifest_digest = manifests.digest)
                                 AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                                                 WHERE mr.repository_id = manifests.repository_id AND mr.child_digest = manifests.digest AND mr.child_kind = 'manifest')`,
    recordPull: `UPDATE manifests SET last_pulled_at = ? WHERE (last_pulled_at IS NULL OR last_pulled_at < ?)
                   AND repository_id = ${repo} AND digest = ?`,
  };
}

export type MetadataStatements = ReturnType<typeof metadataStatements>;

/**
 * Manifests to remove: neither tagged, nor created at or after the cutoff (bound first), nor
 * reachable from such a manifest. Reachable: listed by a kept index, or a referrer (signature,
 * SBOM) of a kept manifest; and so on, transitively. One recursive query over both kinds of edge.
 */
const UNREACHABLE_MANIFESTS = `
  WITH RECURSIVE
    edges (repository_id, parent, child) AS (
      SELECT repository_id, manifest_digest, child_digest FROM manifest_references WHERE child_kind = 'manifest'
      UNION ALL
      SELECT repository_id, subject, digest FROM manifests WHERE subject IS NOT NULL),
    live (repository_id, digest) AS (
      SELECT m.repository_id, m.digest FROM manifests m
      WHERE m.created_at >= ? OR EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)
      UNION
      SELECT e.repository_id, e.child FROM edges e JOIN live l ON l.repository_id = e.repository_id AND l.digest = e.parent)
  SELECT m.repository_id, r.name AS repository, m.digest, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
  WHERE NOT EXISTS (SELECT 1 FROM live l WHERE l.repository_id = m.repository_id AND l.digest = m.digest)
  ORDER BY r.name, m.digest`;

/**
 * Whether repository `r` matches a search term: its name contains the term (`instr`/`strpos`, so
 * `%` and `_` mean themselves; names are lower case), or its description contains it in any
 * ASCII case. Binds the term, then `likeContaining(term)`.
 */
function matchesTerm(dialect: Dialect): string {
  return `(${dialect.contains('r.name', 'CAST(? AS TEXT)')} OR ${dialect.likeIgnoringCase('r.description', '?')})`;
}

/**
 * Search: the match, then the rank by name bound four more times; over every repository, or
 * (`byTrigram`) only those holding the trigram bound first — every match holds each of the
 * term's trigrams, so both give the same rows.
 */
function searchRepositories(dialect: Dialect, byTrigram: boolean): string {
  const term = 'CAST(? AS TEXT)';
  const from = byTrigram ? 'repository_trigrams g JOIN repositories r ON r.id = g.repository_id' : 'repositories r';
  return `SELECT r.name, r.description FROM ${from}
          WHERE ${byTrigram ? 'g.trigram = ? AND ' : ''}${matchesTerm(dialect)}
            AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
          ORDER BY CASE WHEN r.name = ${term} THEN 0
                        WHEN substr(r.name, 1, length(${term})) = ${term} THEN 1
                        WHEN ${dialect.contains('r.name', term)} THEN 2
                        ELSE 3 END, r.name`;
}

/**
 * `repository_stats`, one row per repository (migration 11): what the repository list sorts and
 * shows. Pushes, links and pulls only ever raise its numbers, so they add to it; anything that
 * removes content recounts the repository (`refreshStats`), the one definition of every number.
 */
function repositoryStatistics(dialect: Dialect) {
  const of = 'r.id';
  return {
    insertStats: 'INSERT INTO repository_stats (repository_id) VALUES (?) ON CONFLICT (repository_id) DO NOTHING',
    // Bound before the link or manifest row is written: content the repository already holds adds nothing.
    addStatsContent: `UPDATE repository_stats SET bytes = bytes + (SELECT size FROM blobs WHERE digest = ?)
                      WHERE repository_id = ? AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?)
                                              AND NOT EXISTS (SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?)`,
    addStatsPush: `UPDATE repository_stats SET manifests = manifests + ?, tags = tags + ?, pushed_at = ${dialect.greatest('coalesce(pushed_at, 0)', '?')}
                   WHERE repository_id = ?`,
    addStatsPull: `UPDATE repository_stats SET pulled_at = ${dialect.greatest('coalesce(pulled_at, 0)', '?')} WHERE repository_id = ${repo}`,
    refreshStats: `INSERT INTO repository_stats (repository_id, tags, manifests, bytes, pushed_at, pulled_at)
                   SELECT ${of},
                          (SELECT count(*) FROM tags t WHERE t.repository_id = ${of}),
                          (SELECT count(*) FROM manifests m WHERE m.repository_id = ${of}),
                          (SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.digest IN
                             (SELECT l.digest FROM repository_blobs l WHERE l.repository_id = ${of} UNION SELECT m.digest FROM manifests m WHERE m.repository_id = ${of})),
                          (SELECT max(times.at) FROM (SELECT max(m.created_at) AS at FROM manifests m WHERE m.repository_id = ${of}
                                                      UNION ALL SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = ${of}) AS times),
                          (SELECT max(m.last_pulled_at) FROM manifests m WHERE m.repository_id = ${of})
                   FROM repositories r WHERE r.id = ?
                   ON CONFLICT (repository_id) DO UPDATE SET tags = excluded.tags, manifests = excluded.manifests, bytes = excluded.bytes,
                                                             pushed_at = excluded.pushed_at, pulled_at = excluded.pulled_at`,
    // The names as one JSON array: a page or a whole namespace in one round trip.
    repositorySummaries: `SELECT r.name, r.description, s.tags, s.manifests, s.bytes, s.pushed_at, s.pulled_at
                          FROM repositories r JOIN repository_stats s ON s.repository_id = r.id
                          WHERE r.name IN (${dialect.jsonTexts}) AND s.manifests > 0`,
  };
}

const REPOSITORY_SORT_KEYS: Record<RepositorySort, string> = {
  name: 'r.name',
  pushed: 'coalesce(s.pushed_at, 0)',
  size: 's.bytes',
  pulled: 'coalesce(s.pulled_at, 0)',
};

/**
 * Names of listed repositories (holding a manifest) in one sort order, ties by name; with
 * `filtered`, only those matching a lower-case term (`matchesTerm`). One text per combination,
 * prepared once each.
 */
export function orderedRepositories(dialect: Dialect, sort: RepositorySort, order: SortOrder, filtered: boolean): string {
  const filter = filtered ? ` AND ${matchesTerm(dialect)}` : '';
  const direction = order === 'desc' ? 'DESC' : 'ASC';
  const ties = sort === 'name' ? '' : ', r.name';
  return `SELECT r.name FROM repository_stats s JOIN repositories r ON r.id = s.repository_id
          WHERE s.manifests > 0${filter}
          ORDER BY ${REPOSITORY_SORT_KEYS[sort]} ${direction}${ties}`;
}

/** Usage of a scope (one repository by name, or every repository matching a pattern), each blob once; the scope is bound twice. */
function usage(match: string) {
  const scope = `SELECT l.digest FROM repository_blobs l JOIN repositories r ON r.id = l.repository_id WHERE ${match}
                 UNION SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE ${match}`;
  return {
    total: `SELECT COALESCE(SUM(size), 0) AS bytes FROM blobs WHERE digest IN (${scope})`,
    contains: `SELECT 1 AS found FROM (${scope}) AS scope WHERE digest = ?`,
  };
}

/** A quota pattern (`team-a/*`: `*` is any run of characters) as a LIKE pattern with `\` escaping. */
export function globToLike(pattern: string): string {
  return escapeLike(pattern).replace(/\*/g, '%');
}

/** A LIKE pattern (`\` escaping) matching text that contains `term` as it is. */
export function likeContaining(term: string): string {
  return `%${escapeLike(term)}%`;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}
