import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { Abort, FuzzBody, FuzzRequest, Framing } from './fuzz-wire.js';

/**
 * fast-check arbitraries for requests to every route family of the registry. Values mix what a
 * real client sends (so requests reach deep into the use cases, and some succeed) with what an
 * attacker or a broken client sends (bad names and digests, path escapes, lying lengths, huge
 * numbers, garbage headers, aborts).
 */

/** What the suite knows about the registry under test; arbitraries read it when a case is drawn. */
export interface FuzzWorld {
  /** Names with content in them (seeded), so reads find something. */
  repositories: string[];
  tags: string[];
  /** Digests of stored blobs and manifests. */
  digests: string[];
  /** Upload locations (`/v2/<name>/blobs/uploads/<id>`) the server handed out: seeded, and harvested during the run. */
  uploads: string[];
  /** Valid credentials (`Basic …` and `Bearer …`) when access control is on. */
  authorizations: string[];
  /** Directory names used by path-escape attempts; none may ever appear on disk. */
  marker: string;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MEDIA_TYPES = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/octet-stream',
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain; charset=utf-8',
  `${OCI_MANIFEST}; charset=utf-8`,
  '',
  ';;;',
  'a/b/c',
];

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const pick = <T>(values: () => T[], fallback: T) => fc.nat().map((index) => { const list = values(); return list.length === 0 ? fallback : list[index % list.length]!; });
const hugeNumbers = fc.constantFrom('99999999999999999999', '9007199254740993', '1e308', '-1', '0', '-0', '0x10', ' 1', '1.5', 'NaN', 'Infinity', '18446744073709551616');

export function arbitraries(world: FuzzWorld) {
  const escape = fc.constantFrom(
    '..',
    '.',
    `../../${world.marker}`,
    `../../../${world.marker}`,
    `%2e%2e/%2e%2e/${world.marker}`,
    `%2E%2E%2F%2E%2E%2F${world.marker}`,
    `a/../../${world.marker}`,
    `a%2f..%2f..%2f${world.marker}`,
    `..%2f..%2f${world.marker}`,
    `%252e%252e/${world.marker}`,
    `a/%00/b`,
    `a%00b`,
    `/${world.marker}`,
    `a//b`,
    `a/./b`,
  );
  const validName = fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,4})?(?:\/[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,4})?){0,3}$/);
  const name = fc.oneof(
    { weight: 4, arbitrary: pick(() => world.repositories, 'fuzz/app') },
    { weight: 3, arbitrary: validName },
    { weight: 3, arbitrary: escape },
    { weight: 1, arbitrary: fc.constantFrom('A', 'UPPER/case', 'a b', 'a__b', '-a', 'a-', 'é/ü', '日本/語', '%zz', 'a%', 'a\tb', '_catalog', 'v2', 'blobs/uploads') },
    { weight: 1, arbitrary: fc.integer({ min: 200, max: 6000 }).map((length) => 'a'.repeat(length)) },
    { weight: 1, arbitrary: fc.array(fc.constant('a'), { minLength: 40, maxLength: 200 }).map((parts) => parts.join('/')) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  );

  const validDigest = fc.oneof(hex(64).map((h) => `sha256:${h}`), hex(128).map((h) => `sha512:${h}`));
  const digest = fc.oneof(
    { weight: 4, arbitrary: pick(() => world.digests, 'sha256:' + '0'.repeat(64)) },
    { weight: 3, arbitrary: validDigest },
    {
      weight: 2,
      arbitrary: fc.oneof(
        hex(63).map((h) => `sha256:${h}`),
        hex(64).map((h) => `sha256:${h.toUpperCase()}`),
        hex(64).map((h) => `SHA256:${h}`),
        hex(32).map((h) => `md5:${h}`),
        hex(64).map((h) => `sha256+b64:${h}`),
        fc.constantFrom('sha256:', ':', 'sha256', 'sha256:..', 'sha256:%2e%2e', `sha256:../../${world.marker}`, '.INVALID_MANIFEST_NAME', 'sha256:' + 'g'.repeat(64)),
        fc.string({ maxLength: 80 }),
      ),
    },
  );
  const tag = fc.oneof(
    { weight: 3, arbitrary: pick(() => world.tags, 'latest') },
    { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,30}$/) },
    { weight: 2, arbitrary: fc.constantFrom('.INVALID_MANIFEST_NAME', '-tag', '.tag', 'a'.repeat(128), 'a'.repeat(129), 'a'.repeat(5000), '%2e%2e', '..', 'tag%2fx', 'é', 'sha256', '') },
  );
  const reference = fc.oneof(tag, digest);
  const uploadId = fc.oneof(
    { weight: 4, arbitrary: pick(() => world.uploads, '/00000000-0000-4000-8000-000000000000').map((location) => location.slice(location.lastIndexOf('/') + 1)) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom('..', `..%2f..%2f${world.marker}`, 'not-an-id', '00000000-0000-0000-0000-00000000000G', 'A'.repeat(36)) },
  );

  const queryValue = fc.oneof(hugeNumbers, fc.nat({ max: 20_000 }).map(String), digest, name, tag, fc.string({ maxLength: 30 }), fc.constantFrom('true', '1', 'false', '', '%zz', 'a'.repeat(3000)));
  const queryKey = fc.constantFrom('n', 'last', 'digest', 'mount', 'from', 'artifactType', 'service', 'scope', 'dryRun', 'deleteUntagged', 'offline_token', 'account', 'x');
  const query = fc.oneof(
    { weight: 2, arbitrary: fc.constant('') },
    {
      weight: 3,
      arbitrary: fc
        .array(fc.tuple(queryKey, queryValue, fc.boolean()), { maxLength: 4 })
        .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([key, value, raw]) => `${key}=${raw ? value : encodeURIComponent(value)}`).join('&')}`)),
    },
  );

  const authorization = fc.oneof(
    { weight: 4, arbitrary: pick(() => world.authorizations, 'Basic YWRtaW46eA==') },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })).map(([user, password]) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`) },
    { weight: 1, arbitrary: fc.base64String({ maxLength: 200 }).map((token) => `Bearer ${token}`) },
    { weight: 1, arbitrary: fc.tuple(fc.base64String({ maxLength: 40 }), fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 60 })).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`) },
    { weight: 1, arbitrary: fc.constantFrom('Basic', 'Basic ', 'Basic !!!', 'Bearer', 'Bearer ', 'Digest username="x"', 'basic YTpi', 'Basic ' + 'A'.repeat(20_000), 'Bearer a.b.c', 'Bearer ..', 'Negotiate x') },
  );
  const header = fc.oneof(
    fc.tuple(fc.constant('Range'), fc.oneof(fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=5-', 'bytes=10-5', 'bytes=0-0,2-3', 'bytes=99999999999999999999-', 'bytes=', 'items=0-1', 'bytes=-0'), fc.string({ maxLength: 20 }))),
    fc.tuple(fc.constant('Content-Range'), fc.oneof(fc.constantFrom('0-9', '0-0', 'bytes 0-9/10', '10-5', '0-99999999999999999999', '-1-2', '5-9', 'bytes=0-9', '0-9/*'), fc.string({ maxLength: 20 }))),
    fc.tuple(fc.constant('Content-Type'), fc.constantFrom(...MEDIA_TYPES)),
    fc.tuple(fc.constant('Accept'), fc.constantFrom('*/*', OCI_MANIFEST, 'application/vnd.docker.distribution.manifest.v2+json, */*;q=0.5', 'garbage', '')),
    fc.tuple(fc.constant('Authorization'), authorization),
    fc.tuple(fc.constant('If-None-Match'), fc.oneof(digest.map((value) => `"${value}"`), fc.constantFrom('*', '""', 'W/"x"'))),
    fc.tuple(fc.constantFrom('X-Forwarded-For', 'X-Real-IP', 'Expect', 'Content-Encoding', 'Docker-Upload-UUID'), fc.constantFrom('100-continue', '127.0.0.9', 'gzip', 'nonsense', '')),
  );
  const headers = fc.array(header, { maxLength: 4 });

  const manifestBody = fc
    .record({
      config: digest,
      layers: fc.array(fc.tuple(digest, fc.integer({ min: -1, max: 1 << 30 })), { maxLength: 3 }),
      mediaType: fc.constantFrom(OCI_MANIFEST, 'application/vnd.oci.image.index.v1+json', undefined),
      subject: fc.option(digest, { nil: undefined }),
      artifactType: fc.option(fc.constantFrom('application/vnd.example+json', 'x', ''), { nil: undefined }),
    })
    .map(({ config, layers, mediaType, subject, artifactType }) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType,
          artifactType,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
          layers: layers.map(([layer, size]) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size })),
          ...(subject === undefined ? {} : { subject: { mediaType: OCI_MANIFEST, digest: subject, size: 10 } }),
        }),
      ),
    );
  const indexBody = fc.array(digest, { maxLength: 3 }).map((children) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: children.map((child) => ({ mediaType: OCI_MANIFEST, digest: child, size: 100 })) })),
  );
  const body: fc.Arbitrary<FuzzBody> = fc.oneof(
    { weight: 8, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ kind: 'bytes' as const, bytes: Buffer.from(bytes) })) },
    { weight: 6, arbitrary: fc.oneof(manifestBody, indexBody).map((bytes) => ({ kind: 'bytes' as const, bytes })) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.constantFrom('{', '[]', 'null', '{"schemaVersion":2}', '{"schemaVersion":1}', '{"schemaVersion":"2","layers":{}}', '{"layers":[null]}', '\u0000', '{"__proto__":{"x":1}}', '{"manifests":[{"digest":1}]}').map((text) => Buffer.from(text)),
        fc.json().map((text) => Buffer.from(text)),
      ).map((bytes) => ({ kind: 'bytes' as const, bytes })),
    },
    // Just over the 64 KiB bound of token and admin bodies, and just over the 4 MiB bound of manifests.
    { weight: 2, arbitrary: fc.integer({ min: 64 * 1024 + 1, max: 300 * 1024 }).map((size) => ({ kind: 'filler' as const, size, byte: 0x61 })) },
    { weight: 2, arbitrary: fc.integer({ min: 4 * 1024 * 1024 + 1, max: 5 * 1024 * 1024 }).map((size) => ({ kind: 'filler' as const, size, byte: 0x7b })) },
  );
  /** Large bodies are sent chunked half the time: a refusal mid-stream is where bodies get abandoned. */
  const largeBodyFraming: fc.Arbitrary<Framing> = fc.constantFrom({ kind: 'length' as const }, { kind: 'chunked' as const });
  const framing: fc.Arbitrary<Framing> = fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'length' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'chunked' as const }) },
    { weight: 1, arbitrary: fc.integer({ min: -64, max: 64 }).filter((delta) => delta !== 0).map((delta) => ({ kind: 'lying-length' as const, delta })) },
  );
  const abort: fc.Arbitrary<Abort | undefined> = fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 200 }).map((bytes) => ({ after: 'head' as const, bytes })) },
    { weight: 2, arbitrary: fc.double({ min: 0.05, max: 0.95, noNaN: true }).map((fraction) => ({ after: 'body' as const, fraction })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 300_000 }).map((bytes) => ({ after: 'response' as const, bytes })) },
  );
  const method = fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS') },
    { weight: 1, arbitrary: fc.constantFrom('TRACE', 'CONNECT', 'PROPFIND', 'get', 'FOO', 'G ET', 'PUT\u0000', '') },
  );

  /** Sometimes the body is what the digest in the query promises: then uploads can succeed. */
  const withMatchingDigest = (target: string, requestBody: FuzzBody): string => {
    if (requestBody.kind !== 'bytes') return target;
    const actual = `sha256:${createHash('sha256').update(requestBody.bytes).digest('hex')}`;
    return target.replace('DIGEST_OF_BODY', actual);
  };

  /** Most requests log in properly when access control is on, so they get past the gate. */
  const login = fc.option(pick(() => world.authorizations, ''), { freq: 4, nil: '' });

  function request(family: string, path: fc.Arbitrary<string>, methods = method, typed = fc.constant<[string, string][]>([])): fc.Arbitrary<FuzzRequest> {
    return fc
      .record({ method: methods, path, query, typed, headers, body, framing, largeBodyFraming, abort, login, fromOther: fc.integer({ min: 0, max: 9 }) })
      .map(({ method: verb, path: target, query: search, typed: first, headers: more, body: requestBody, framing: smallFrame, largeBodyFraming: largeFrame, abort: giveUp, login: credentials, fromOther }) => {
        const frame = requestBody.kind === 'filler' && smallFrame.kind !== 'lying-length' ? largeFrame : smallFrame;
        const list = [...first, ...more];
        if (credentials !== '' && !list.some(([header]) => header === 'Authorization')) list.unshift(['Authorization', credentials]);
        const request: FuzzRequest = {
          family,
          method: verb,
          target: withMatchingDigest(target.includes('?') ? target : target + search, requestBody),
          headers: list,
          body: requestBody,
          framing: requestBody.kind === 'none' && frame.kind === 'chunked' ? { kind: 'length' } : frame,
          abort: giveUp?.after === 'body' && requestBody.kind === 'none' ? undefined : giveUp,
        };
        // Logins that may fail come from other loopback addresses, so throttling locks those out, not 127.0.0.1.
        const login = list.find(([header]) => header === 'Authorization')?.[1];
        if (login !== undefined && !world.authorizations.includes(login)) request.from = `127.0.0.${2 + (fromOther % 8)}`;
        return request;
      });
  }

  /** Usually the Content-Type the endpoint reads, so bodies get past the type check and are read. */
  const typedAs = (...types: string[]) => fc.option(fc.constantFrom(...types).map((type): [string, string][] => [['Content-Type', type]]), { freq: 4, nil: [] });

  const digestQuery = fc.oneof(digest.map((value) => `?digest=${value}`), fc.constant('?digest=DIGEST_OF_BODY'));
  const mountQuery = fc.tuple(digest, fc.option(name, { nil: undefined })).map(([value, from]) => `?mount=${value}${from === undefined ? '' : `&from=${from}`}`);

  const families: Record<string, fc.Arbitrary<FuzzRequest>> = {
    base: request('base', fc.constantFrom('/v2', '/v2/', '/v2//', '/v2/?', '/v2/.', '/V2/')),
    catalog: request('catalog', fc.constantFrom('/v2/_catalog', '/v2/_catalog/', '/v2/_catalog?n=0', '/v2/_catalog?n=99999999999999999999', '/v2/_catalog?n=-1', '/v2/_catalog?last=%zz')),
    tags: request('tags', name.map((value) => `/v2/${value}/tags/list`)),
    manifests: request(
      'manifests',
      fc.tuple(name, reference).map(([value, ref]) => `/v2/${value}/manifests/${ref}`),
      fc.oneof({ weight: 3, arbitrary: fc.constant('PUT') }, { weight: 4, arbitrary: method }),
      typedAs(OCI_MANIFEST, 'application/vnd.oci.image.index.v1+json'),
    ),
    blobs: request('blobs', fc.tuple(name, digest).map(([value, ref]) => `/v2/${value}/blobs/${ref}`)),
    'upload start': request(
      'upload start',
      fc.tuple(name, fc.oneof(fc.constant(''), digestQuery, mountQuery), fc.constantFrom('/', '')).map(([value, search, slash]) => `/v2/${value}/blobs/uploads${slash}${search}`),
      fc.oneof({ weight: 3, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: method }),
    ),
    uploads: request(
      'uploads',
      fc.tuple(
        fc.oneof(
          // A session at its own location (the common, deep path), or its id under any name.
          { weight: 3, arbitrary: pick(() => world.uploads, '/v2/fuzz/app/blobs/uploads/00000000-0000-4000-8000-000000000000') },
          { weight: 2, arbitrary: fc.tuple(name, uploadId).map(([value, id]) => `/v2/${value}/blobs/uploads/${id}`) },
        ),
        fc.oneof(fc.constant(''), digestQuery),
      ).map(([location, search]) => `${location}${search}`),
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom('PATCH', 'PUT', 'GET', 'DELETE') }, { weight: 1, arbitrary: method }),
    ),
    referrers: request('referrers', fc.tuple(name, digest).map(([value, ref]) => `/v2/${value}/referrers/${ref}`)),
    token: request(
      'token',
      fc.oneof(
        fc.constantFrom('/token', '/token/'),
        fc.array(fc.tuple(fc.constantFrom('service', 'scope', 'offline_token', 'account', 'client_id'), fc.oneof(
          fc.constantFrom('berth', 'registry:catalog:*', 'repository:fuzz/seeded:pull,push', 'repository:*:*', 'repository::pull', 'repository:a:b:c:d', ':::', 'true'),
          name.map((value) => `repository:${value}:pull,push,delete`),
          fc.string({ maxLength: 40 }),
        )), { maxLength: 5 }).map((pairs) => `/token?${pairs.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&')}`),
      ),
      fc.oneof({ weight: 2, arbitrary: fc.constantFrom('GET', 'POST') }, { weight: 1, arbitrary: method }),
      typedAs('application/x-www-form-urlencoded'),
    ),
    admin: request(
      'admin',
      fc.oneof(
        fc.constantFrom('/api/v1', '/api/v1/', '/api/v1/whoami', '/api/v1/users', '/api/v1/roles', '/api/v1/gc?dryRun=true', '/api/v1/gc', '/api/v1/retention?dryRun=true', '/api/v1/usage', '/api/v1/users/fuzz/password', '/api/v1/users/fuzz/roles', '/api/v1/%zz', '/api/v1/users/%2e%2e'),
        fc.tuple(fc.constantFrom('users', 'roles', 'whoami', 'x'), fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), escape, fc.string({ maxLength: 20 })), fc.constantFrom('', '/password', '/roles', '/x/y')).map(([collection, value, property]) => `/api/v1/${collection}/${value}${property}`),
      ),
      fc.oneof({ weight: 2, arbitrary: fc.constantFrom('PUT', 'POST') }, { weight: 3, arbitrary: method }),
      typedAs('application/json'),
    ),
    'unknown paths': request('unknown paths', fc.oneof(fc.constantFrom('/', '/v1/', '/health', '/debug/health', '/v2/../token', '/v2/x/unknown/y', '/v2/x/blobs', '/v2/x/manifests/', '/favicon.ico', '*', `/../../${world.marker}`, '//v2/', '/v2/x/tags/list/extra'), fc.webPath())),
  };
  return families;
}

/** Malformed HTTP that no client library would send: for the raw socket only. */
export function malformedHttp(world: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const start = fc.constantFrom(
    'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /v2/ HTTP/9.9\r\n\r\n',
    'GET /v2/\r\n\r\n',
    'GET  /v2/  HTTP/1.1\r\n\r\n',
    'GET /v2/ HTTP/1.1\nHost: x\n\n',
    'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
    'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'PUT /v2/x/manifests/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'PUT /v2/x/manifests/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello',
    'PATCH /v2/fuzz/app/blobs/uploads/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    `GET /v2/../../${world.marker} HTTP/1.1\r\nHost: x\r\n\r\n`,
    'GET http://example.com/v2/ HTTP/1.1\r\nHost: example.com\r\n\r\n',
    'GET /v2/ HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n',
    'GET /v2/ HTTP/1.1\r\n: empty-name\r\n\r\n',
    'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
    'POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ngrant_type=password',
    'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/_catalog HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  );
  const raw = fc.oneof(
    { weight: 4, arbitrary: start.map((text) => Buffer.from(text, 'utf8')) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 600 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.integer({ min: 9_000, max: 120_000 }).map((size) => Buffer.from(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(size)}\r\n\r\n`)) },
    { weight: 1, arbitrary: fc.integer({ min: 200, max: 3000 }).map((count) => Buffer.from(`GET /v2/ HTTP/1.1\r\n${'X-A: b\r\n'.repeat(count)}\r\n`)) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 40 })).map(([target, value]) => Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${value}\r\n\r\n`, 'utf8')) },
  );
  const abort = fc.option(fc.integer({ min: 1, max: 400 }).map((bytes) => ({ after: 'head' as const, bytes })), { freq: 3, nil: undefined });
  return fc.tuple(raw, abort).map(([bytes, giveUp]) => ({ family: 'malformed HTTP', method: '', target: '', headers: [], body: { kind: 'none' }, framing: { kind: 'length' }, raw: bytes, abort: giveUp }));
}
