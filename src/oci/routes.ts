import { RegistryError } from './errors.js';
import { parseDigest, type Digest } from './digest.js';
import { parseRepositoryName, parseTag, printable, type RepositoryName, type Tag } from './names.js';

/**
 * The `/v2/…` path grammar. Repository names contain `/` and may even contain segments
 * called `blobs` or `manifests`, so every pattern anchors on its tail and the name is
 * whatever stands before it; a framework's path parameters cannot express that.
 */
export type ManifestReference = { tag: Tag; digest?: undefined } | { digest: Digest; tag?: undefined };

/**
 * A manifest path segment that is neither a valid tag nor a valid digest. It is still a
 * manifest route, because what it means depends on the method: such a reference names no
 * manifest (a read answers MANIFEST_UNKNOWN, as registry:2 and the OCI conformance tests
 * expect), while a write with it is bad input (TAG_INVALID / DIGEST_INVALID).
 */
export interface MalformedReference {
  malformed: string;
  error: RegistryError;
}

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: RepositoryName }
  | { kind: 'manifest'; name: RepositoryName; reference: ManifestReference | MalformedReference }
  | { kind: 'blob'; name: RepositoryName; digest: Digest }
  | { kind: 'upload-start'; name: RepositoryName }
  | { kind: 'upload'; name: RepositoryName; uploadId: string }
  | { kind: 'referrers'; name: RepositoryName; digest: Digest };

export type RouteKind = Route['kind'];

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const PATTERNS: ReadonlyArray<[RegExp, (name: RepositoryName, tail: string) => Route]> = [
  [/^\/v2\/(.+)\/tags\/list$/, (name) => ({ kind: 'tags', name })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (name) => ({ kind: 'upload-start', name })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (name, id) => ({ kind: 'upload', name, uploadId: parseUploadId(id) })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (name, digest) => ({ kind: 'blob', name, digest: parseDigest(digest) })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (name, reference) => ({ kind: 'manifest', name, reference: parseReference(reference) })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (name, digest) => ({ kind: 'referrers', name, digest: parseDigest(digest) })],
];

/** Returns undefined for paths outside `/v2`; throws a typed error for malformed ones. */
export function parseRoute(path: string): Route | undefined {
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  if (!path.startsWith('/v2/')) return undefined;
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  for (const [pattern, build] of PATTERNS) {
    const match = pattern.exec(path);
    if (match) return build(parseRepositoryName(decode(match[1]!)), decode(match[2] ?? ''));
  }
  throw new RegistryError('NOT_FOUND', `no such endpoint: ${printable(path)}`);
}

function parseReference(value: string): ManifestReference | MalformedReference {
  try {
    return value.includes(':') ? { digest: parseDigest(value) } : { tag: parseTag(value) };
  } catch (error) {
    if (error instanceof RegistryError) return { malformed: value, error };
    throw error;
  }
}

/** The reference a GET or HEAD looks up: a malformed one names nothing, so it is unknown. */
export function referenceToRead(name: RepositoryName, reference: ManifestReference | MalformedReference): ManifestReference {
  if (!('malformed' in reference)) return reference;
  throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${printable(reference.malformed)} is not known in repository ${name}: it is neither a valid tag nor a digest`, {
    name,
    reference: printable(reference.malformed),
  });
}

/** The reference a PUT or DELETE acts on: a malformed one is the client's error, said precisely. */
export function referenceToWrite(reference: ManifestReference | MalformedReference): ManifestReference {
  if ('malformed' in reference) throw reference.error;
  return reference;
}

function parseUploadId(value: string): string {
  if (!UPLOAD_ID.test(value)) {
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload "${printable(value)}" is not known: malformed upload id`);
  }
  return value;
}

function decode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RegistryError('NAME_INVALID', `malformed percent-encoding in "${printable(segment)}"`);
  }
}
