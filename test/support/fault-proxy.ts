import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP proxy in front of an upstream registry, for tests: it counts what passes
 * (requests by method and path, blob body bytes) and injects faults — a status with headers
 * (429 + Retry-After, 503), a connection reset after part of a body, a slow body (a pause after
 * each upstream chunk), or no
 * upstream at all (refusing is done by stopping it).
 */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'reset-after'; bytes: number }
  | { kind: 'slow'; delayMs: number };

export interface LoggedRequest {
  method: string;
  path: string;
  authorization?: string;
}

export class FaultProxy {
  readonly requests: LoggedRequest[] = [];
  /** Body bytes sent to the registry under test for blob GETs. */
  blobBytes = 0;
  /** Applies to requests whose path matches; `undefined` passes everything through. */
  fault?: { match: RegExp; fault: Fault };
  private server?: Server;
  /** Its own pool, closed by `stop`, so the upstream can stop without waiting for idle connections. */
  private agent = new Agent({ keepAlive: true });
  url = '';

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.forward(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Listens again on the same port after `stop` (the upstream comes back). */
  async restart(): Promise<void> {
    const port = Number(new URL(this.url).port);
    this.server = createServer((req, res) => this.forward(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    this.agent.destroy();
    this.agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  count(method: string, pattern: RegExp): number {
    return this.requests.filter((entry) => entry.method === method && pattern.test(entry.path)).length;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization });
    const fault = this.fault && this.fault.match.test(path) ? this.fault.fault : undefined;
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
      req.resume();
      return;
    }
    const target = new URL(path, this.upstream);
    // The Host header is kept, so an upstream that builds URLs from it (a token realm) points back here.
    const upstream = request(target, { method: req.method, headers: req.headers, agent: this.agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(path);
      let sent = 0;
      answer.on('data', (chunk: Buffer) => {
        let piece = chunk;
        if (fault?.kind === 'reset-after' && sent + piece.length >= fault.bytes) {
          piece = piece.subarray(0, Math.max(0, fault.bytes - sent));
          if (isBlob) this.blobBytes += piece.length;
          res.write(piece, () => res.socket?.destroy());
          answer.destroy();
          sent = fault.bytes;
          return;
        }
        sent += piece.length;
        if (isBlob) this.blobBytes += piece.length;
        if (fault?.kind === 'slow') {
          answer.pause();
          res.write(piece);
          setTimeout(() => answer.resume(), fault.delayMs).unref();
          return;
        }
        if (!res.write(piece)) {
          answer.pause();
          res.once('drain', () => answer.resume());
        }
      });
      answer.on('end', () => res.end());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
