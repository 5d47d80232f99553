import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { basic, tokenFor } from '../integration/auth-support.js';
import { startServer, type RunningServer } from '../support/server.js';
import { blobTree, recordedBlobs, snapshot, unexpectedStorageEntries } from './fuzz-audit.js';
import { arbitraries, malformedHttp, OCI_MANIFEST, type FuzzWorld } from './fuzz-requests.js';
import { bodyDigest, bodyLength, describeRequest, needsRawSocket, send, type FuzzRequest, type FuzzResult } from './fuzz-wire.js';
import { http, pushImage, sha256 } from './helpers.js';

/**
 * Bounded fuzzing of the real server (the compiled CLI as a child process, access log on): random
 * requests to every route family, malformed HTTP and client aborts at random points, first on
 * an open registry with delete enabled, then with token authentication and the admin API.
 *
 * Per request: no 5xx but a 503 that says UNAVAILABLE, and the server still answers afterwards.
 * After each run: nothing appeared outside the storage root, only the layout's names inside it,
 * and every object in the blob tree was stored by an accepted request (or one whose answer the
 * client never read), holds the bytes its name says, and is recorded in the database.
 *
 * Reproducible: FUZZ_SEED (default below, printed), FUZZ_RUNS (cases in total), FUZZ_TIME_MS
 * (time budget in total). The "known reproductions" at the end are the crashes and leaks this
 * test found, as plain deterministic tests.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_130);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const TIME_MS = Number(process.env.FUZZ_TIME_MS ?? 40_000);
const REQUEST_TIMEOUT_MS = 15_000;
/** How long a server that stopped answering gets to exit before it is judged hung rather than crashed. */
const EXIT_WAIT_MS = 3000;
const MARKER = `berthfuzz${SEED}`;

const FUZZ_CONFIG = {
  log: { level: 'info', accesslog: { disabled: false } },
  storage: {
    delete: { enabled: true },
    // Nothing but requests may change the blob tree while it is audited.
    maintenance: { gc: { enabled: false }, uploadpurging: { enabled: false } },
  },
};

/** Families and their share of the cases; the families that write get more. */
const FAMILY_WEIGHTS: Record<string, number> = {
  base: 1, catalog: 1, tags: 1, blobs: 2, referrers: 1, manifests: 3, 'upload start': 2, uploads: 3,
  token: 1, admin: 2, 'unknown paths': 1, 'malformed HTTP': 2,
};

/**
 * One server under fuzz, in a sandbox: the data directory is `<sandbox>/a/b`, so a path escape
 * from the storage root (`<sandbox>/a/b/storage`) would land inside the sandbox, where the audit
 * looks. A server that dies is restarted on the same data directory so the other families run.
 */
class Target {
  server!: RunningServer;
  sandbox!: string;
  dataDir!: string;
  /** Digests of objects accepted (2xx with Docker-Content-Digest), seeding included. */
  readonly accepted = new Set<string>();
  /** Digests a request may have stored although the client never read the answer. */
  readonly unanswered = new Set<string>();
  readonly statuses = new Map<string, number>();
  /** The last request that sent each small body, by the body's digest (names the request behind a leak). */
  readonly senders = new Map<string, string>();
  outsideBefore = new Set<string>();
  seededBytes = 0;
  readonly world: FuzzWorld = { repositories: ['fuzz/seeded', 'fuzz/app', 'library/alpine'], tags: ['v1', 'latest'], digests: [], uploads: [], authorizations: [], marker: MARKER };

  constructor(private readonly config: Record<string, unknown>) {}

  get storageRoot(): string {
    return join(this.dataDir, 'storage');
  }

  async start(): Promise<void> {
    this.sandbox = await mkdtemp(join(tmpdir(), 'berth-fuzz-'));
    this.dataDir = join(this.sandbox, 'a', 'b');
    await mkdir(this.dataDir, { recursive: true });
    this.server = await startServer({ dataDir: this.dataDir, config: this.config });
  }

  alive(): boolean {
    return this.server.process.exitCode === null && this.server.process.signalCode === null;
  }

  /** `GET /v2/` answers (any status below 500) and the child is still running. */
  async answers(): Promise<boolean> {
    if (!this.alive()) return false;
    try {
      const response = await http(this.server.url, 'GET', '/v2/', { timeoutMs: REQUEST_TIMEOUT_MS });
      return response.status < 500 && this.alive();
    } catch {
      return false;
    }
  }

  /**
   * After a failed exchange: if the server is going down, wait (bounded) until its exit is seen,
   * so fast-check's shrinking skips every candidate instead of blaming one that met a dead port.
   */
  async settle(): Promise<void> {
    if (!this.alive()) return;
    const child = this.server.process;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([once(child, 'exit'), new Promise((done) => (timer = setTimeout(done, EXIT_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** After a crash (already reported by the family that caused it): start again on the same data directory. */
  async restartIfDead(): Promise<void> {
    if (this.alive()) return;
    this.server = await startServer({ dataDir: this.dataDir, config: this.config });
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    if (this.sandbox) await rm(this.sandbox, { recursive: true, force: true });
  }

  /** Learns from one exchange: what was accepted, which upload ids exist, what may have been stored unseen. */
  account(request: FuzzRequest, result: FuzzResult): void {
    if (request.body.kind === 'bytes' && request.body.bytes.length > 0) {
      this.senders.set(bodyDigest(request.body), `${describeRequest(request)}\n  answered ${result.status ?? 'nothing'}`);
    }
    const key = `${request.family} ${result.status ?? 'no answer'}`;
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    if (result.status !== undefined && result.status >= 200 && result.status < 300) {
      const digest = result.headers['docker-content-digest'];
      // Only PUT and POST store; a DELETE's digest names what it removed.
      if (digest && (request.method === 'PUT' || request.method === 'POST')) this.accepted.add(digest);
      const upload = /^\/v2\/.+\/blobs\/uploads\/[0-9a-f-]{36}$/.exec(result.headers.location ?? '');
      if (upload) this.world.uploads = [...this.world.uploads.slice(-40), upload[0]];
      return;
    }
    if (result.status !== undefined || !result.sentWholeBody) return;
    // The client stopped reading before the status line: the server may have stored what the request names.
    const query = new URLSearchParams(request.target.split('?')[1] ?? '');
    for (const digest of query.getAll('digest')) this.unanswered.add(digest);
    this.unanswered.add(bodyDigest(request.body));
    if (request.framing.kind === 'lying-length') this.unanswered.add(bodyDigest(request.body, Math.max(0, bodyLength(request.body) + request.framing.delta)));
  }
}

/** An image to read, aborts mid-response included (a 2 MiB layer), and an open upload session. */
async function seed(target: Target, authorization?: string): Promise<void> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const image = authorization ? await pushWithToken(target.server.url, authorization) : await pushImage(target.server.url, 'fuzz/seeded', 'v1', [1024, 2 * 1024 * 1024]);
  for (const digest of [image.manifestDigest, ...image.blobs.map((blob) => blob.digest)]) {
    target.accepted.add(digest);
    target.world.digests.push(digest);
  }
  target.seededBytes = image.manifest.length + image.blobs.reduce((sum, blob) => sum + blob.size, 0);
  const upload = await http(target.server.url, 'POST', '/v2/fuzz/app/blobs/uploads/', { headers });
  assert.equal(upload.status, 202, upload.body.toString());
  target.world.uploads.push(upload.headers.location!);
}

/** The same image as `pushImage`, through the token flow. */
async function pushWithToken(base: string, bearer: string) {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layers = [Buffer.alloc(1024, 1), Buffer.alloc(2 * 1024 * 1024, 2)];
  const blobs = [];
  for (const bytes of [config, ...layers]) {
    const digest = sha256(bytes);
    const response = await http(base, 'POST', `/v2/fuzz/seeded/blobs/uploads/?digest=${digest}`, { headers: { Authorization: bearer, 'Content-Length': bytes.length }, body: bytes });
    assert.equal(response.status, 201, response.body.toString());
    blobs.push({ digest, size: bytes.length });
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobs[0]!.digest, size: blobs[0]!.size },
    layers: blobs.slice(1).map((blob) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blob.digest, size: blob.size })),
  }));
  const response = await http(base, 'PUT', '/v2/fuzz/seeded/manifests/v1', { headers: { Authorization: bearer, 'Content-Type': OCI_MANIFEST }, body: manifest });
  assert.equal(response.status, 201, response.body.toString());
  return { manifest, manifestDigest: sha256(manifest), blobs };
}

/** Runs one family's share of cases; a failure names the request (and the server's last words if it died). */
async function fuzzFamily(target: Target, family: string, request: fc.Arbitrary<FuzzRequest>, runs: number, timeMs: number, seedOffset: number): Promise<void> {
  await target.restartIfDead();
  const recent: string[] = [];
  const property = fc.asyncProperty(request, async (candidate) => {
    // Once the server is down, shrinking cannot learn anything: keep the request that brought it down.
    fc.pre(target.alive());
    const described = describeRequest(candidate);
    recent.push(described);
    if (recent.length > 3) recent.shift();
    let result: FuzzResult;
    try {
      result = await send(target.server.port, candidate, REQUEST_TIMEOUT_MS);
    } catch (error) {
      await target.settle();
      throw new Error(`${(error as Error).message}\n${described}${serverState(target)}`);
    }
    target.account(candidate, result);
    // A bodiless, well-formed request leaves no unread bytes to provoke a reset: it must get an answer.
    if (result.status === undefined && !needsRawSocket(candidate) && bodyLength(candidate.body) === 0 && candidate.framing.kind === 'length') {
      throw new Error(`the server closed the connection without answering\n${described}${serverState(target)}`);
    }
    if (result.status !== undefined && result.status >= 500 && !(result.status === 503 && result.bodyStart.includes('UNAVAILABLE'))) {
      throw new Error(`answered ${result.status}: ${result.bodyStart.slice(0, 500)}\n${described}\nthe server logged:\n${lastErrors(target.server.output())}`);
    }
    if (!(await target.answers())) {
      await target.settle();
      throw new Error(`the server stopped answering after this request (the two before it were:\n${recent.slice(0, -1).join('\n') || 'none'})\n${described}${serverState(target)}`);
    }
  });
  try {
    await fc.assert(property, { seed: SEED + seedOffset, numRuns: runs, interruptAfterTimeLimit: timeMs, markInterruptAsFailure: false });
  } finally {
    await target.restartIfDead();
  }
  assert.ok(await target.answers(), `after the ${family} batch, GET /v2/ must answer${serverState(target)}`);
}

/** The server's last error-level log lines (pino level 50 and up), for a 500's cause. */
function lastErrors(output: string): string {
  return output.split('\n').filter((line) => /"level":(?:50|60)/.test(line)).slice(-2).join('\n') || '(nothing at error level)';
}

function serverState(target: Target): string {
  if (target.alive()) return '';
  const { exitCode, signalCode } = target.server.process;
  return `\nthe server exited (code ${exitCode}, signal ${signalCode}); its last output:\n${target.server.output().slice(-3000)}`;
}

/** The audit after a run: see the file's comment. */
async function audit(target: Target): Promise<string> {
  assert.ok(await target.answers(), `the server must still answer${serverState(target)}`);
  const outside = await snapshot(target.sandbox, [target.storageRoot]);
  const appeared = [...outside].filter((entry) => !target.outsideBefore.has(entry));
  assert.deepEqual(appeared, [], 'nothing may be written beside the storage root');
  const escaped = (await readdir(tmpdir())).filter((name) => name.includes(MARKER));
  assert.deepEqual(escaped, [], `no path-escape name may reach ${tmpdir()}`);
  assert.deepEqual(unexpectedStorageEntries(await snapshot(target.storageRoot)), [], 'the storage root holds only the layout\'s names');

  const recorded = recordedBlobs(join(target.storageRoot, 'berth.sqlite'));
  const tree = await blobTree(target.storageRoot);
  const problems: string[] = [];
  for (const blob of tree) {
    if (blob.contentDigest !== blob.digest) problems.push(`${blob.digest}: its content hashes to ${blob.contentDigest}`);
    if (!target.accepted.has(blob.digest) && !target.unanswered.has(blob.digest)) problems.push(`${blob.digest} (${blob.size} bytes): stored, but no request that stored it was accepted; its bytes were last sent by:\n${target.senders.get(blob.digest) ?? '(not a body this test sent)'}`);
    if (recorded.get(blob.digest) !== blob.size) problems.push(`${blob.digest} (${blob.size} bytes): the database records ${recorded.has(blob.digest) ? `${recorded.get(blob.digest)} bytes` : 'no such blob'}`);
  }
  const inTree = new Set(tree.map((blob) => blob.digest));
  if (inTree.size !== tree.length) problems.push('a blob is stored both as a file and in its row');
  for (const digest of recorded.keys()) if (!inTree.has(digest)) problems.push(`${digest}: recorded in the database, missing from the blob tree`);
  assert.deepEqual(problems, [], 'every object in the blob tree was stored by an accepted request and is recorded as stored');
  const total = tree.reduce((sum, blob) => sum + blob.size, 0);
  return `blob tree: ${tree.length} objects, ${total} bytes (${total - target.seededBytes} beyond the seed), all accounted for`;
}

function plan(families: string[]): Map<string, { runs: number; timeMs: number }> {
  const weight = families.reduce((sum, family) => sum + FAMILY_WEIGHTS[family]!, 0);
  return new Map(families.map((family) => [family, {
    runs: Math.max(1, Math.round((RUNS / 2) * (FAMILY_WEIGHTS[family]! / weight))),
    timeMs: Math.max(1000, Math.round((TIME_MS / 2) * (FAMILY_WEIGHTS[family]! / weight))),
  }]));
}

function fuzzSuite(title: string, config: Record<string, unknown>, login?: (target: Target) => Promise<void>): void {
  describe(title, () => {
    const target = new Target(config);
    before(async () => {
      console.log(`fuzz: seed ${SEED} (FUZZ_SEED), ${RUNS} cases in all (FUZZ_RUNS), ${TIME_MS} ms budget (FUZZ_TIME_MS)`);
      await target.start();
      await login?.(target);
      await seed(target, target.world.authorizations.find((value) => value.startsWith('Bearer ')));
      target.outsideBefore = await snapshot(target.sandbox, [target.storageRoot]);
    });
    after(() => target.stop());

    const families = { ...arbitraries(target.world), 'malformed HTTP': malformedHttp(target.world) };
    for (const [index, [family, { runs, timeMs }]] of [...plan(Object.keys(families))].entries()) {
      it(`when ${runs} random requests hit ${family}, then none gets a 5xx (but UNAVAILABLE) and the server keeps answering`, async (t) => {
        await fuzzFamily(target, family, families[family as keyof typeof families], runs, timeMs, index);
        t.diagnostic([...target.statuses].filter(([key]) => key.startsWith(`${family} `)).map(([key, count]) => `${key.slice(family.length + 1)}×${count}`).join(', '));
      });
    }

    it('when the run is over, then nothing was written outside the storage root and every stored object was accepted and recorded', async (t) => {
      t.diagnostic(await audit(target));
    });
  });
}

fuzzSuite('fuzzing an open registry with delete enabled', FUZZ_CONFIG);

fuzzSuite(
  'fuzzing a registry with token authentication and the admin API',
  { ...FUZZ_CONFIG, auth: { token: { service: 'berth', issuer: 'berth-fuzz', expiration: '1h' } } },
  async (target) => {
    const password = (await readFile(join(target.storageRoot, 'admin-password'), 'utf8')).trim();
    const admin = basic('admin', password);
    const token = await tokenFor(target.server.url, ['repository:fuzz/seeded:pull,push,delete', 'repository:fuzz/app:pull,push,delete', 'registry:catalog:*'], admin);
    target.world.authorizations.push(admin, `Bearer ${token}`);
  },
);

/**
 * Known reproductions: what the fuzzing found, as plain deterministic tests. Each runs on its
 * own server so one crash does not hide the next.
 */
describe('known reproductions', () => {
  const servers: RunningServer[] = [];
  after(async () => {
    for (const server of servers) {
      await server.stop();
      await server.cleanup();
    }
  });
  async function launch(config: Record<string, unknown> = FUZZ_CONFIG): Promise<RunningServer> {
    const server = await startServer({ config });
    servers.push(server);
    return server;
  }
  async function assertStillServing(server: RunningServer): Promise<void> {
    const response = await http(server.url, 'GET', '/v2/', { timeoutMs: REQUEST_TIMEOUT_MS }).catch((error: Error) => error);
    const { exitCode, signalCode } = server.process;
    assert.ok(!(response instanceof Error) && exitCode === null && signalCode === null, `the server must keep serving (exit code ${exitCode}, signal ${signalCode}, answer ${response instanceof Error ? response.message : response.status}); its last output:\n${server.output().slice(-2000)}`);
  }

  it('when a 5 MB chunked manifest PUT is refused with 413 and its connection closes, then the server keeps serving', async () => {
    const server = await launch();
    const result = await send(server.port, {
      family: 'known', method: 'PUT', target: '/v2/x/manifests/t', headers: [['Content-Type', OCI_MANIFEST]],
      body: { kind: 'filler', size: 5_000_000, byte: 0x61 }, framing: { kind: 'chunked' },
    }, REQUEST_TIMEOUT_MS);
    assert.equal(result.status, 413);
    await assertStillServing(server);
  });

  it('when a 100 KB form is POSTed to /token, then it is refused and the server keeps serving', async () => {
    const server = await launch({ ...FUZZ_CONFIG, auth: { token: { service: 'berth', issuer: 'berth-fuzz' } } });
    const form = Buffer.from(`grant_type=password&username=admin&password=${'x'.repeat(100_000)}`);
    const result = await send(server.port, {
      family: 'known', method: 'POST', target: '/token', headers: [['Content-Type', 'application/x-www-form-urlencoded']],
      body: { kind: 'bytes', bytes: form }, framing: { kind: 'length' },
    }, REQUEST_TIMEOUT_MS);
    assert.ok(result.status === undefined || result.status === 400, `a too-large form is refused as invalid_request, got ${result.status}: ${result.bodyStart}`);
    await assertStillServing(server);
  });

  it('when a 100 KB JSON body is PUT to the admin API, then it is refused and the server keeps serving', async () => {
    const server = await launch({ ...FUZZ_CONFIG, auth: { token: { service: 'berth', issuer: 'berth-fuzz' } } });
    const password = (await readFile(join(server.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
    const result = await send(server.port, {
      family: 'known', method: 'PUT', target: '/api/v1/users/fuzz', headers: [['Content-Type', 'application/json'], ['Authorization', basic('admin', password)]],
      body: { kind: 'bytes', bytes: Buffer.from(JSON.stringify({ password: 'x'.repeat(100_000) })) }, framing: { kind: 'length' },
    }, REQUEST_TIMEOUT_MS);
    assert.ok(result.status === undefined || result.status === 413, `a too-large body is refused (TOO_LARGE), got ${result.status}: ${result.bodyStart}`);
    await assertStillServing(server);
  });

  it('when an upload session that received no data is completed by a PUT ?digest= without a body, then the empty blob is created', async () => {
    const server = await launch();
    const started = await http(server.url, 'POST', '/v2/x/blobs/uploads/');
    assert.equal(started.status, 202);
    const empty = sha256(Buffer.alloc(0));
    const completed = await http(server.url, 'PUT', `${started.headers.location}?digest=${empty}`, { timeoutMs: REQUEST_TIMEOUT_MS }).catch((error: Error) => error);
    assert.ok(!(completed instanceof Error), `the server must answer the PUT, got: ${completed instanceof Error ? completed.message : ''}`);
    assert.equal(completed.status, 201, completed.body.toString());
    assert.equal(completed.headers['docker-content-digest'], empty);
  });

  it('when a manifest is refused with 404 MANIFEST_BLOB_UNKNOWN, then its bytes are not left in the blob tree', async () => {
    const server = await launch();
    const missing = `sha256:${'1'.repeat(64)}`;
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: missing, size: 2 },
      layers: [],
    }));
    const response = await http(server.url, 'PUT', '/v2/x/manifests/t', { headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
    assert.equal(response.status, 404, response.body.toString());
    assert.equal((JSON.parse(response.body.toString()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_BLOB_UNKNOWN');
    const hex = sha256(manifest).slice('sha256:'.length);
    const path = join(server.dataDir, 'storage', 'v1', 'blobs', 'sha256', hex.slice(0, 2), hex);
    assert.equal(existsSync(path), false, `the refused manifest's bytes were left at ${path}`);
  });
});
