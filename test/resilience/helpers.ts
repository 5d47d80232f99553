import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Shared pieces of the resilience tests: deterministic generated content (any byte range can
 * be produced again without holding the whole thing), a plain node:http client that streams
 * bodies both ways, and a sampler of a process's resident memory.
 */
export const MiB = 1024 * 1024;
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

// ---------------------------------------------------------------------------------------------
// Generated content

/**
 * A blob of `size` bytes: 1 MiB blocks of AES-CTR keystream (pseudo-random, incompressible),
 * each stamped with its block number, so no two blocks are equal. Byte `i` depends only on
 * `seed` and `i`.
 */
export class Pattern {
  private readonly base: Buffer;

  constructor(
    readonly seed: string,
    readonly size: number,
  ) {
    const key = createHash('sha256').update(seed).digest();
    this.base = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(MiB));
  }

  /** A fresh buffer with block `index` (callers may hand it to a socket and forget it). */
  block(index: number): Buffer {
    const block = Buffer.allocUnsafe(MiB);
    this.base.copy(block);
    block.writeBigUInt64BE(BigInt(index), 0);
    block.writeBigUInt64BE(BigInt(index) ^ 0xa5a5a5a5n, MiB / 2);
    return block;
  }

  /** Bytes [start, end) in pieces of at most 1 MiB. */
  *chunks(start = 0, end = this.size): Generator<Buffer> {
    let position = start;
    while (position < end) {
      const index = Math.floor(position / MiB);
      const from = position - index * MiB;
      const to = Math.min(MiB, end - index * MiB);
      const block = this.block(index);
      yield from === 0 && to === MiB ? block : block.subarray(from, to);
      position += to - from;
    }
  }

  /** The sha256 digest of the whole blob, computed by streaming it once. */
  digest(): string {
    const hash = createHash('sha256');
    for (const chunk of this.chunks()) hash.update(chunk);
    return `sha256:${hash.digest('hex')}`;
  }

  /**
   * A byte stream of [start, end). With `pauseAfter`, it stops pushing once that many bytes
   * are out (the request stays open, the server waits for more) and calls `onPause` — used to
   * freeze a request mid-body before the server is killed.
   */
  stream(start = 0, end = this.size, options: { pauseAfter?: number; onPause?: () => void; onChunk?: (chunk: Buffer) => void } = {}): Readable {
    const chunks = this.chunks(start, end);
    let sent = 0;
    let paused = false;
    return new Readable({
      highWaterMark: MiB,
      read() {
        if (paused) return;
        if (options.pauseAfter !== undefined && sent >= options.pauseAfter) {
          paused = true;
          options.onPause?.();
          return;
        }
        const next = chunks.next();
        if (next.done) {
          this.push(null);
          return;
        }
        let chunk = next.value;
        if (options.pauseAfter !== undefined && sent + chunk.length > options.pauseAfter) {
          // Never cross the pause point; the rest of this block is simply not sent.
          chunk = chunk.subarray(0, options.pauseAfter - sent);
        }
        sent += chunk.length;
        options.onChunk?.(chunk);
        this.push(chunk);
      },
    });
  }
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** The response body, unless `onBody` consumed it. */
  body: Buffer;
  /** Bytes of response body received. */
  received: number;
}

export interface HttpOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string | Readable;
  /** Streams the response body here instead of collecting it. */
  onBody?: (chunk: Buffer) => void;
  /** Destroys the request (and rejects) after this long. */
  timeoutMs?: number;
}

/** One HTTP request over loopback with node:http; bodies are streamed both ways. */
export function http(base: string, method: string, path: string, options: HttpOptions = {}): Promise<HttpResult> {
  const url = new URL(path, base);
  assert.ok(url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]', `loopback only: ${url.href}`);
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise<HttpResult>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(error);
    };
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (options.onBody) options.onBody(chunk);
          else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error(`${method} ${path}: response aborted after ${received} bytes`)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), received });
        });
      },
    );
    const timer = setTimeout(() => fail(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', fail);
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else pipeline(body, req).catch(fail);
  });
}

/** Pushes a small blob monolithically (POST ?digest=); returns its digest. */
export async function pushSmallBlob(base: string, name: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await http(base, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
    body: bytes,
  });
  assert.equal(response.status, 201, `blob push to ${name}: ${response.body.toString()}`);
  assert.equal(response.headers['docker-content-digest'], digest);
  return digest;
}

export interface PushedImage {
  name: string;
  tag: string;
  manifest: Buffer;
  manifestDigest: string;
  /** Config first, then layers. */
  blobs: { digest: string; size: number }[];
}

/** Pushes config + layers (random-looking content of the given sizes) + a tagged OCI manifest. */
export async function pushImage(base: string, name: string, tag: string, layerSizes: number[]): Promise<PushedImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, created: `${name}:${tag}` }));
  const blobs = [{ digest: await pushSmallBlob(base, name, config), size: config.length }];
  for (const [index, size] of layerSizes.entries()) {
    const layer = Buffer.concat([...new Pattern(`${name}:${tag}:layer${index}`, size).chunks()]);
    blobs.push({ digest: await pushSmallBlob(base, name, layer), size });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobs[0]!.digest, size: blobs[0]!.size },
      layers: blobs.slice(1).map((blob) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, size: blob.size })),
    }),
  );
  const response = await http(base, 'PUT', `/v2/${name}/manifests/${tag}`, { headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
  assert.equal(response.status, 201, `manifest push ${name}:${tag}: ${response.body.toString()}`);
  const manifestDigest = sha256(manifest);
  assert.equal(response.headers['docker-content-digest'], manifestDigest);
  return { name, tag, manifest, manifestDigest, blobs };
}

/** Pulls a blob, hashing it while it streams; returns its digest and size. */
export async function pullBlobDigest(base: string, name: string, digest: string, timeoutMs = 60_000): Promise<{ status: number; digest: string; size: number; headers: IncomingHttpHeaders }> {
  const hash = createHash('sha256');
  const response = await http(base, 'GET', `/v2/${name}/blobs/${digest}`, { onBody: (chunk) => hash.update(chunk), timeoutMs });
  return { status: response.status, digest: `sha256:${hash.digest('hex')}`, size: response.received, headers: response.headers };
}

/** Asserts that an image pulls back exactly as pushed: manifest bytes by tag and digest, every blob rehashed. */
export async function assertImageIntact(base: string, image: PushedImage): Promise<void> {
  const label = `${image.name}:${image.tag}`;
  for (const reference of [image.tag, image.manifestDigest]) {
    const response = await http(base, 'GET', `/v2/${image.name}/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(response.status, 200, `${label}: GET manifest ${reference}: ${response.body.toString()}`);
    assert.ok(response.body.equals(image.manifest), `${label}: manifest bytes by ${reference} are not the bytes pushed`);
    assert.equal(response.headers['docker-content-digest'], image.manifestDigest);
    assert.equal(response.headers['content-type'], OCI_MANIFEST);
  }
  for (const blob of image.blobs) {
    const pulled = await pullBlobDigest(base, image.name, blob.digest);
    assert.equal(pulled.status, 200, `${label}: GET blob ${blob.digest}`);
    assert.equal(pulled.size, blob.size, `${label}: blob ${blob.digest} size`);
    assert.equal(pulled.digest, blob.digest, `${label}: blob content does not hash to its digest`);
  }
}

/** The upload id at the end of an upload Location. */
export function uploadIdOf(location: string): string {
  const id = location.split('?')[0]!.split('/').at(-1)!;
  assert.match(id, /^[0-9a-f-]{36}$/, `upload id in ${location}`);
  return id;
}

/**
 * Where the filesystem driver keeps an upload's data (storage/layout.ts). Used only to *time*
 * a crash (wait until the server has written part of a chunk), never to judge the result.
 */
export function uploadDataPath(dataDir: string, uploadId: string): string {
  return join(dataDir, 'storage', 'v1', 'uploads', uploadId.slice(0, 2), uploadId);
}

/** Waits until `path` holds more than `bytes` bytes; returns its size. */
export async function waitForFileLargerThan(path: string, bytes: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const size = await stat(path).then((info) => info.size, () => -1);
    if (size > bytes) return size;
    if (Date.now() > deadline) throw new Error(`${path} did not grow past ${bytes} bytes within ${timeoutMs} ms (size ${size})`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

/** Waits until some file in the uploads directory holds more than `bytes` bytes; returns its size. */
export async function waitForAnyUploadLargerThan(dataDir: string, bytes: number, timeoutMs: number): Promise<number> {
  const directory = join(dataDir, 'storage', 'v1', 'uploads');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
    const files = entries.filter((entry) => entry.isFile());
    const sizes = await Promise.all(files.map((entry) => stat(join(entry.parentPath, entry.name)).then((info) => info.size, () => -1)));
    const largest = Math.max(-1, ...sizes);
    if (largest > bytes) return largest;
    if (Date.now() > deadline) throw new Error(`no upload file in ${directory} grew past ${bytes} bytes within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

// ---------------------------------------------------------------------------------------------
// Memory

export interface MemoryReport {
  /** Highest VmRSS seen by sampling, bytes. */
  peakRss: number;
  /** VmHWM (the kernel's own peak RSS, since the last resetPeak) at the last sample, bytes. */
  hwm: number;
  samples: number;
}

/** Samples /proc/<pid>/status (VmRSS, VmHWM) every `intervalMs` until stopped. */
export class RssSampler {
  private peakRss = 0;
  private hwm = 0;
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 50,
  ) {}

  static async read(pid: number): Promise<{ rss: number; hwm: number }> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
      assert.ok(match, `${name} in /proc/${pid}/status`);
      return Number(match[1]) * 1024;
    };
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  }

  /**
   * Resets the kernel's peak (VmHWM := VmRSS) through /proc/<pid>/clear_refs, so VmHWM then
   * measures this phase alone. Returns false where that is not permitted (VmHWM is then the
   * process's lifetime peak).
   */
  static async resetPeak(pid: number): Promise<boolean> {
    try {
      await writeFile(`/proc/${pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  }

  start(): this {
    this.timer = setInterval(() => {
      if (this.reading) return;
      this.reading = this.sample().finally(() => (this.reading = undefined));
    }, this.intervalMs);
    return this;
  }

  private async sample(): Promise<void> {
    try {
      const { rss, hwm } = await RssSampler.read(this.pid);
      this.samples += 1;
      this.peakRss = Math.max(this.peakRss, rss);
      this.hwm = Math.max(this.hwm, hwm);
    } catch {
      // the process is gone; stop() reports what was seen
    }
  }

  async stop(): Promise<MemoryReport> {
    clearInterval(this.timer);
    await this.reading;
    await this.sample();
    return { peakRss: this.peakRss, hwm: this.hwm, samples: this.samples };
  }
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
