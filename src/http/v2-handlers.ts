import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../core/registry.js';
import type { BlobInfo, RepositoryHandle } from '../core/repository.js';
import type { UploadProgress, WriteOptions } from '../core/uploads.js';
import { parseAccept } from '../oci/accept.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { MediaType, bareMediaType } from '../oci/media-types.js';
import { parseRepositoryName, type RepositoryName } from '../oci/names.js';
import { parseContentRange, parseRangeRequest } from '../oci/ranges.js';
import { referenceToRead, referenceToWrite, type Route, type RouteKind } from '../oci/routes.js';
import { contentLength, hasBody, readBoundedBody } from './body.js';
import { sendEmpty, sendJson } from './respond.js';
import { requestContextOf } from './access.js';
import type { RequestContext } from '../core/notifications/events.js';
import type { BlobRedirects } from '../core/blob-redirects.js';

/**
 * `/v2` handlers: each turns HTTP into one registry call and the result back into HTTP.
 * No decisions live here: validation is in `oci/`, behaviour in `core/`.
 */
export interface V2Request {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  signal: AbortSignal;
  /** The request id (X-Request-Id). */
  id: string;
  /** The authenticated user, if any. */
  actor?: string;
  /** Keeps the catalog names this caller may see (when access control is on). */
  catalogFilter?: (names: string[]) => Promise<string[]>;
  /** On a repository's own listener, the repository names are inside. */
  root?: string;
  /** Blob GETs answer 307 to a URL on the object store where it can give one. */
  blobRedirects?: BlobRedirects;
}

/** Who asks for a change, for its webhook event and audit entry. Built on write paths only. */
function contextOf({ req, id, actor }: V2Request): RequestContext {
  return requestContextOf(req, id, actor);
}

/** A name as the registry knows it: on a repository's own listener, `app` is `<root>/app`. */
export function qualified(name: string, root: string | undefined): RepositoryName {
  return (root === undefined ? name : `${root}/${name}`) as RepositoryName;
}

export function qualifiedRoute(route: Route, root: string): Route {
  return 'name' in route ? { ...route, name: qualified(route.name, root) } as Route : route;
}

/** A mount's `from` names a repository on the same listener. */
export function qualifiedQuery(query: URLSearchParams, root: string): URLSearchParams {
  const from = query.get('from');
  if (from === null) return query;
  const copy = new URLSearchParams(query);
  copy.set('from', qualified(from, root));
  return copy;
}

type Handler<K extends RouteKind> = (registry: Registry, route: Extract<Route, { kind: K }>, request: V2Request) => Promise<void>;
type MethodTable = { [K in RouteKind]: Partial<Record<string, Handler<K>>> };

/** The spec leaves `n` unbounded; one page never exceeds this (registry:2's limit is 1000), and `Link` leads on. */
const MAX_PAGE = 10_000;

export const V2_HANDLERS: MethodTable = {
  base: {
    GET: async (_registry, _route, { req, res }) => sendJson(req, res, 200, {}),
    HEAD: async (_registry, _route, { req, res }) => sendJson(req, res, 200, {}),
  },

  catalog: {
    GET: async (registry, _route, { req, res, query, catalogFilter, root }) => {
      const { limit, last } = pagination(query);
      const page = await registry.catalog(limit, last, catalogFilter, root);
      const link = nextLink('/v2/_catalog', page, limit);
      if (link) res.setHeader('Link', link);
      sendJson(req, res, 200, { repositories: page.items });
    },
  },

  tags: {
    GET: async (registry, route, request) => {
      const { req, res, query } = request;
      const { limit, last } = pagination(query);
      const page = await repositoryFor(registry, route.name, request).listTags(limit, last);
      const link = nextLink(`/v2/${route.name}/tags/list`, page, limit);
      if (link) res.setHeader('Link', link);
      sendJson(req, res, 200, { name: route.name, tags: page.items });
    },
  },

  blob: {
    HEAD: async (registry, route, request) => {
      const { res, req } = request;
      const blob = await repositoryFor(registry, route.name, request).statBlob(route.digest);
      blobHeaders(res, blob);
      if (notModified(req, route.digest)) return sendEmpty(res, 304);
      res.statusCode = 200;
      res.setHeader('Content-Length', blob.size);
      res.end();
    },
    GET: async (registry, route, request) => {
      const { req, res, signal } = request;
      const repository = repositoryFor(registry, route.name, request);
      if (notModified(req, route.digest)) {
        blobHeaders(res, await repository.statBlob(route.digest));
        return sendEmpty(res, 304);
      }
      if (request.blobRedirects) {
        // statBlob first: the repository must link the blob (and a pull counts) before any URL is handed out.
        const location = await request.blobRedirects.locate(await repository.statBlob(route.digest));
        if (location) return sendEmpty(res, 307, { Location: location, 'Docker-Content-Digest': route.digest });
      }
      const blob = await repository.openBlob(route.digest, req.headers.range === undefined ? undefined : parseRangeRequest(req.headers.range));
      blobHeaders(res, blob);
      if (blob.range) {
        res.statusCode = 206;
        res.setHeader('Content-Range', `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`);
        res.setHeader('Content-Length', blob.range.end - blob.range.start + 1);
      } else {
        res.statusCode = 200;
        res.setHeader('Content-Length', blob.size);
      }
      await blob.body.pipeTo(res, signal);
    },
    DELETE: async (registry, route, request) => {
      const { res } = request;
      await repositoryFor(registry, route.name, request, contextOf(request)).deleteBlob(route.digest);
      sendEmpty(res, 202, { 'Docker-Content-Digest': route.digest });
    },
  },

  'upload-start': {
    POST: async (registry, route, request) => {
      const { res, query, req } = request;
      const repository = repositoryFor(registry, route.name, request, contextOf(request));
      const mount = query.get('mount');
      const digest = query.get('digest');
      if (mount !== null) {
        const from = query.get('from');
        const result = await repository.mountBlob(parseDigest(mount), from === null ? undefined : registry.repository(parseRepositoryName(qualified(from, request.root))));
        if ('mounted' in result) return blobCreated(res, route.name, result.mounted);
        drain(req);
        return uploadAccepted(res, route.name, result.upload, 202);
      }
      if (digest !== null) {
        const blob = await repository.uploadMonolithic(parseDigest(digest), req, writeOptions(request));
        return blobCreated(res, route.name, blob);
      }
      drain(req);
      uploadAccepted(res, route.name, await repository.startUpload(), 202);
    },
  },

  upload: {
    GET: async (registry, route, request) => {
      const { res } = request;
      uploadAccepted(res, route.name, await repositoryFor(registry, route.name, request).uploadStatus(route.uploadId), 204);
    },
    PATCH: async (registry, route, request) => {
      const header = request.req.headers['content-range'];
      const options = { ...writeOptions(request), contentRange: header === undefined ? undefined : parseContentRange(header) };
      const progress = await repositoryFor(registry, route.name, request).uploadChunk(route.uploadId, request.req, options);
      uploadAccepted(request.res, route.name, progress, 202);
    },
    PUT: async (registry, route, request) => {
      const digest = request.query.get('digest');
      if (digest === null) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
      const body = hasBody(request.req) ? request.req : undefined;
      if (!body) drain(request.req);
      const blob = await repositoryFor(registry, route.name, request, contextOf(request)).completeUpload(route.uploadId, parseDigest(digest), body, writeOptions(request));
      blobCreated(request.res, route.name, blob);
    },
    DELETE: async (registry, route, request) => {
      const { res } = request;
      await repositoryFor(registry, route.name, request).cancelUpload(route.uploadId);
      sendEmpty(res, 204);
    },
  },

  manifest: {
    HEAD: async (registry, route, request) => {
      const { req, res } = request;
      const record = await repositoryFor(registry, route.name, request).statManifest(referenceToRead(route.name, route.reference), parseAccept(req.headers.accept));
      manifestHeaders(res, record.digest, record.mediaType);
      if (notModified(req, record.digest)) return sendEmpty(res, 304);
      res.statusCode = 200;
      res.setHeader('Content-Length', record.size);
      res.end();
    },
    GET: async (registry, route, request) => {
      const { req, res } = request;
      const { record, bytes } = await repositoryFor(registry, route.name, request, registry.recorder.pullEvents ? contextOf(request) : undefined).getManifest(referenceToRead(route.name, route.reference), parseAccept(req.headers.accept));
      manifestHeaders(res, record.digest, record.mediaType);
      if (notModified(req, record.digest)) return sendEmpty(res, 304);
      res.statusCode = 200;
      res.setHeader('Content-Length', bytes.length);
      res.end(bytes);
    },
    PUT: async (registry, route, request) => {
      const { req, res } = request;
      const reference = referenceToWrite(route.reference);
      const body = await readBoundedBody(req, MAX_MANIFEST_BYTES);
      const stored = await repositoryFor(registry, route.name, request, contextOf(request)).putManifest(reference, body, bareMediaType(req.headers['content-type']));
      const headers: Record<string, string> = {
        Location: `/v2/${route.name}/manifests/${stored.digest}`,
        'Docker-Content-Digest': stored.digest,
      };
      if (stored.subject) headers['OCI-Subject'] = stored.subject;
      sendEmpty(res, 201, headers);
    },
    DELETE: async (registry, route, request) => {
      const { res } = request;
      await repositoryFor(registry, route.name, request, contextOf(request)).deleteManifest(referenceToWrite(route.reference));
      sendEmpty(res, 202);
    },
  },

  referrers: {
    GET: async (registry, route, request) => {
      const { req, res, query } = request;
      const artifactType = query.get('artifactType') ?? undefined;
      const referrers = await repositoryFor(registry, route.name, request).referrers(route.digest, artifactType);
      if (artifactType !== undefined) res.setHeader('OCI-Filters-Applied', 'artifactType');
      const manifests = referrers.map((record) => ({
        mediaType: record.mediaType,
        digest: record.digest,
        size: record.size,
        ...(record.artifactType !== undefined ? { artifactType: record.artifactType } : {}),
        ...(record.annotations !== undefined ? { annotations: record.annotations } : {}),
      }));
      sendJson(req, res, 200, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, MediaType.OciIndex);
    },
  },
};

/**
 * The repository a request addresses. containerd names the upstream registry in `?ns=`; when a
 * proxy of that host answers, the response says so in `OCI-Namespace`.
 */
/** `context` is given on write paths (and pulls when pull events are on): who asks, for events and audit. */
function repositoryFor(registry: Registry, name: RepositoryName, request: V2Request, context?: RequestContext): RepositoryHandle {
  const namespace = request.query.get('ns');
  const resolved = registry.resolve(qualified(name, request.root), namespace ?? undefined, context);
  if (resolved.namespace !== undefined) request.res.setHeader('OCI-Namespace', resolved.namespace);
  return resolved.handle;
}

/**
 * `n` and `last` as registry:2 reads them: an `n` that is not a whole number (negative,
 * fractional, empty, letters) is ignored and the default page served; a larger page than
 * one answer may hold is refused rather than silently shortened.
 */
function pagination(query: URLSearchParams): { limit: number; last?: string } {
  const n = query.get('n');
  let limit = MAX_PAGE;
  if (n !== null && /^\+?\d+$/.test(n)) {
    const requested = Number(n);
    if (requested > MAX_PAGE) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid number of results requested: n=${n.slice(0, 20)} is more than the ${MAX_PAGE} one page may hold`, { n: requested });
    }
    limit = requested;
  }
  return { limit, last: query.get('last') ?? undefined };
}

/** The next page starts after the last item of this one; an empty page (n=0) has no next page. */
function nextLink(path: string, page: { items: readonly string[]; more: boolean }, limit: number): string | undefined {
  const last = page.items.at(-1);
  if (!page.more || last === undefined) return undefined;
  return `<${path}?last=${encodeURIComponent(last)}&n=${limit}>; rel="next"`;
}

function etag(digest: Digest): string {
  return `"${digest}"`;
}

function notModified(req: IncomingMessage, digest: Digest): boolean {
  const header = req.headers['if-none-match'];
  return header !== undefined && header.split(',').some((candidate) => candidate.trim() === etag(digest) || candidate.trim() === '*');
}

function blobHeaders(res: ServerResponse, blob: BlobInfo): void {
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Docker-Content-Digest', blob.digest);
  res.setHeader('ETag', etag(blob.digest));
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'max-age=31536000');
}

function manifestHeaders(res: ServerResponse, digest: Digest, mediaType: string): void {
  res.setHeader('Content-Type', mediaType);
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('ETag', etag(digest));
}

function blobCreated(res: ServerResponse, name: RepositoryName, blob: BlobInfo): void {
  sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${blob.digest}`, 'Docker-Content-Digest': blob.digest });
}

function uploadAccepted(res: ServerResponse, name: RepositoryName, upload: UploadProgress, status: 202 | 204): void {
  sendEmpty(res, status, {
    Location: `/v2/${name}/blobs/uploads/${upload.id}`,
    Range: `0-${Math.max(0, upload.offset - 1)}`,
    'Docker-Upload-UUID': upload.id,
  });
}

function writeOptions(request: V2Request): WriteOptions {
  return { contentLength: contentLength(request.req), signal: request.signal };
}

/** Discards a body the handler does not use, so the connection stays usable. */
function drain(req: IncomingMessage): void {
  if (!req.complete) req.resume();
}
