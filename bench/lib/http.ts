import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SyntheticBlob } from './blob.js';

/**
 * The HTTP side of the load generator: node:http with keep-alive agents, Content-Length on
 * every body (no chunked encoding), response bodies always consumed.
 */
export function keepAlive(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Bytes received, also when the body was discarded. */
  bytes: number;
}

export interface Call {
  method: string;
  url: string;
  agent: Agent;
  headers?: Record<string, string | number>;
  body?: Buffer | Readable;
  bodyLength?: number;
  /** Keep the response body (small responses only); otherwise count and discard. */
  keepBody?: boolean;
}

export function call({ method, url, agent, headers = {}, body, bodyLength, keepBody = true }: Call): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const length = Buffer.isBuffer(body) ? body.length : body ? bodyLength : 0;
    if (length === undefined) throw new Error('a streamed body needs bodyLength');
    const req = request(url, { method, agent, headers: { ...headers, 'Content-Length': length } }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (keepBody) chunks.push(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }));
      res.once('error', reject);
    });
    req.once('error', reject);
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    else pipeline(body, req).catch(reject);
  });
}

function expect(reply: Reply, statuses: number[], what: string): Reply {
  if (!statuses.includes(reply.status)) {
    throw new Error(`${what}: HTTP ${reply.status} (expected ${statuses.join('/')}): ${reply.body.toString().slice(0, 300)}`);
  }
  return reply;
}

function location(reply: Reply, base: string): URL {
  const value = reply.headers.location;
  if (!value) throw new Error(`HTTP ${reply.status} without Location`);
  return new URL(value, base);
}

function withDigest(url: URL, digest: string): string {
  const next = new URL(url);
  next.searchParams.set('digest', digest);
  return next.toString();
}

/** A registry under test, as the load generator sees it. */
export class RegistryClient {
  constructor(
    readonly base: string,
    readonly agent: Agent,
    /** Sent with every request (e.g. Authorization). */
    readonly headers: Record<string, string> = {},
  ) {}

  private send(request: Call): Promise<Reply> {
    return call({ ...request, headers: { ...this.headers, ...request.headers } });
  }

  async startUpload(repo: string): Promise<URL> {
    const reply = expect(await this.send({ method: 'POST', url: `${this.base}/v2/${repo}/blobs/uploads/`, agent: this.agent }), [202], `POST upload ${repo}`);
    return location(reply, this.base);
  }

  /** POST /blobs/uploads/ then PUT ?digest= with the whole body: the same two requests on every server. */
  async pushMonolithic(repo: string, blob: SyntheticBlob): Promise<void> {
    const upload = await this.startUpload(repo);
    expect(
      await this.send({
        method: 'PUT',
        url: withDigest(upload, blob.digest),
        agent: this.agent,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: blob.stream(),
        bodyLength: blob.size,
      }),
      [201],
      `PUT blob ${repo}`,
    );
  }

  /** POST, PATCH per chunk (Content-Range, following each Location), then PUT ?digest= without a body. */
  async pushChunked(repo: string, blob: SyntheticBlob, chunkSize: number): Promise<void> {
    let upload = await this.startUpload(repo);
    for (let start = 0; start < blob.size; start += chunkSize) {
      const end = Math.min(blob.size, start + chunkSize) - 1;
      const reply = expect(
        await this.send({
          method: 'PATCH',
          url: upload.toString(),
          agent: this.agent,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end}` },
          body: blob.stream(start, end),
          bodyLength: end - start + 1,
        }),
        [202],
        `PATCH ${repo} ${start}-${end}`,
      );
      upload = location(reply, this.base);
    }
    expect(await this.send({ method: 'PUT', url: withDigest(upload, blob.digest), agent: this.agent }), [201], `PUT commit ${repo}`);
  }

  async pushSmall(repo: string, bytes: Buffer, digest: string): Promise<void> {
    const upload = await this.startUpload(repo);
    expect(
      await this.send({ method: 'PUT', url: withDigest(upload, digest), agent: this.agent, headers: { 'Content-Type': 'application/octet-stream' }, body: bytes }),
      [201],
      `PUT small blob ${repo}`,
    );
  }

  async mount(repo: string, from: string, digest: string): Promise<void> {
    const url = `${this.base}/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    expect(await this.send({ method: 'POST', url, agent: this.agent }), [201], `mount ${digest} into ${repo}`);
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    expect(
      await this.send({ method: 'PUT', url: `${this.base}/v2/${repo}/manifests/${reference}`, agent: this.agent, headers: { 'Content-Type': mediaType }, body: bytes }),
      [201],
      `PUT manifest ${repo}:${reference}`,
    );
  }

  /** GET a blob, reading and discarding the body; returns the byte count. */
  async pullBlob(repo: string, digest: string, agent = this.agent): Promise<number> {
    const reply = expect(await this.send({ method: 'GET', url: `${this.base}/v2/${repo}/blobs/${digest}`, agent, keepBody: false }), [200], `GET blob ${repo}`);
    return reply.bytes;
  }

  async delete(path: string): Promise<void> {
    expect(await this.send({ method: 'DELETE', url: `${this.base}${path}`, agent: this.agent }), [202], `DELETE ${path}`);
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return expect(await this.send({ method: 'GET', url: `${this.base}${path}`, agent: this.agent, headers }), [200], `GET ${path}`);
  }
}

/** The `next` target of a Link header, or undefined. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (!value) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(value);
  return match?.[1];
}

/** `GET /v2/_catalog?n=` following each `Link` to the end; returns how many repositories were listed. */
export async function walkCatalog(client: RegistryClient, pageSize: number): Promise<number> {
  let repositories = 0;
  let pages = 0;
  let path: string | undefined = `/v2/_catalog?n=${pageSize}`;
  while (path) {
    const reply = await client.get(path);
    repositories += (JSON.parse(reply.body.toString()) as { repositories: string[] }).repositories.length;
    if (++pages > 100_000) throw new Error('catalog pagination does not end');
    const link = nextLink(reply.headers.link);
    if (link === undefined) break;
    const url = new URL(link, client.base);
    path = `${url.pathname}${url.search}`;
  }
  return repositories;
}
