import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

/**
 * How the fuzz test puts one generated request on the wire and what it saw come back. Two
 * transports: node:http for well-formed requests, a raw socket for everything node:http would
 * refuse to send (garbage methods and headers, lying Content-Length, broken chunking) and for
 * client aborts at a chosen byte of the request or of the response.
 */

/** A request body: literal bytes, or `size` bytes of one repeated byte, produced while sending. */
export type FuzzBody = { kind: 'none' } | { kind: 'bytes'; bytes: Buffer } | { kind: 'filler'; size: number; byte: number };

/** How the body is framed: a true Content-Length, chunked, or a Content-Length that lies by `delta`. */
export type Framing = { kind: 'length' } | { kind: 'chunked' } | { kind: 'lying-length'; delta: number };

/** Where the client gives up: after `bytes` of the request head, a `fraction` of the body, or `bytes` of the response. */
export type Abort = { after: 'head'; bytes: number } | { after: 'body'; fraction: number } | { after: 'response'; bytes: number };

export interface FuzzRequest {
  family: string;
  method: string;
  /** Path and query, sent as is over the raw transport (percent-escaped for node:http). */
  target: string;
  headers: [string, string][];
  body: FuzzBody;
  framing: Framing;
  abort?: Abort;
  /** Raw bytes sent instead of a request built from the fields above (malformed HTTP). */
  raw?: Buffer;
  /** Loopback source address (other "clients", so failed logins throttle them and not 127.0.0.1). */
  from?: string;
}

export interface FuzzResult {
  /** Undefined when no status line arrived (the client aborted first, or the server closed). */
  status?: number;
  headers: Record<string, string>;
  /** The first bytes of the response body (enough for an error code). */
  bodyStart: string;
  /** The whole request body left this client (the server may have acted on it). */
  sentWholeBody: boolean;
}

const BODY_SAMPLE = 4096;
const FILLER_PIECE = 64 * 1024;

export function bodyLength(body: FuzzBody): number {
  return body.kind === 'none' ? 0 : body.kind === 'bytes' ? body.bytes.length : body.size;
}

/** The body in pieces of at most 64 KiB, made as they are sent (a 5 MiB body is never held whole). */
export function* bodyPieces(body: FuzzBody, limit = bodyLength(body)): Generator<Buffer> {
  if (body.kind === 'bytes') {
    if (limit > 0) yield body.bytes.subarray(0, limit);
    return;
  }
  if (body.kind !== 'filler') return;
  const piece = Buffer.alloc(Math.min(FILLER_PIECE, body.size), body.byte);
  for (let sent = 0; sent < limit; sent += piece.length) yield piece.subarray(0, Math.min(piece.length, limit - sent));
}

export function bodyDigest(body: FuzzBody, limit = bodyLength(body)): string {
  const hash = createHash('sha256');
  for (const piece of bodyPieces(body, limit)) hash.update(piece);
  return `sha256:${hash.digest('hex')}`;
}

/** Whether the request goes over a raw socket (node:http would refuse it, or it aborts). */
export function needsRawSocket(request: FuzzRequest): boolean {
  if (request.raw || request.abort || request.framing.kind === 'lying-length') return true;
  if (!/^[A-Z]+$/.test(request.method) || request.method === 'CONNECT') return true;
  return request.headers.some(([name, value]) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[^\t\x20-\x7e]/.test(value));
}

export async function send(port: number, request: FuzzRequest, timeoutMs: number): Promise<FuzzResult> {
  return needsRawSocket(request) ? sendRaw(port, request, timeoutMs) : sendHttp(port, request, timeoutMs);
}

function requestHead(request: FuzzRequest): Buffer {
  const length = bodyLength(request.body);
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.framing.kind === 'chunked') lines.push('Transfer-Encoding: chunked');
  else if (request.framing.kind === 'lying-length') lines.push(`Content-Length: ${Math.max(0, length + request.framing.delta)}`);
  else if (length > 0) lines.push(`Content-Length: ${length}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
}

/** The request as it goes on the wire: head, then the body framed as asked, in pieces. */
function* wirePieces(request: FuzzRequest, bodyLimit: number): Generator<Buffer> {
  yield requestHead(request);
  const chunked = request.framing.kind === 'chunked';
  for (const piece of bodyPieces(request.body, bodyLimit)) {
    yield chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
  }
  if (chunked && bodyLimit === bodyLength(request.body)) yield Buffer.from('0\r\n\r\n');
}

function sendRaw(port: number, request: FuzzRequest, timeoutMs: number): Promise<FuzzResult> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: request.from });
    const received: Buffer[] = [];
    let receivedBytes = 0;
    let sentWholeBody = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(received)), sentWholeBody });
    };
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`no answer and no close within ${timeoutMs} ms`));
    }, timeoutMs);

    socket.on('data', (chunk: Buffer) => {
      if (receivedBytes < 64 * 1024) received.push(chunk);
      receivedBytes += chunk.length;
      if (request.abort?.after === 'response' && receivedBytes >= request.abort.bytes) finish();
    });
    socket.on('close', finish);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the server answered (it closes a connection with an unread body) is an answer.
      if (error.code === 'ECONNREFUSED') {
        settled = true;
        clearTimeout(timer);
        reject(new Error('connection refused: the server is not listening'));
      } else finish();
    });
    socket.on('connect', () => {
      void write().catch(() => finish());
    });

    async function write(): Promise<void> {
      const abort = request.abort;
      if (request.raw) {
        await put(abort?.after === 'head' ? request.raw.subarray(0, abort.bytes) : request.raw);
        if (abort?.after === 'head') return finish();
        sentWholeBody = true;
        socket.end();
        return;
      }
      const length = bodyLength(request.body);
      if (abort?.after === 'head') {
        await put(requestHead(request).subarray(0, abort.bytes));
        return finish();
      }
      const limit = abort?.after === 'body' ? Math.floor(length * abort.fraction) : length;
      for (const piece of wirePieces(request, limit)) {
        if (settled) return;
        await put(piece);
      }
      if (abort?.after === 'body') return finish();
      sentWholeBody = true;
      // A lying Content-Length that promises more than was sent: end our side so the server sees the body end early.
      if (request.framing.kind === 'lying-length' && request.framing.delta > 0) socket.end();
    }

    function put(bytes: Buffer): Promise<void> {
      return new Promise((done) => (socket.write(bytes) ? done() : socket.once('drain', done)));
    }
  });
}

function parseResponse(bytes: Buffer): Omit<FuzzResult, 'sentWholeBody'> {
  const text = bytes.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (!status || headEnd < 0) return { headers: {}, bodyStart: '' };
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, headEnd).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(status[1]), headers, bodyStart: bytes.subarray(headEnd + 4, headEnd + 4 + BODY_SAMPLE).toString('utf8') };
}

function sendHttp(port: number, request: FuzzRequest, timeoutMs: number): Promise<FuzzResult> {
  // Repeated names stay repeated (node:http sends one line per array element).
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of request.headers) {
    const key = Object.keys(headers).find((existing) => existing.toLowerCase() === name.toLowerCase()) ?? name;
    const previous = headers[key];
    headers[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  const length = bodyLength(request.body);
  if (request.framing.kind === 'chunked') headers['Transfer-Encoding'] = 'chunked';
  else if (length > 0) headers['Content-Length'] = String(length);
  return new Promise((resolve, reject) => {
    let sentWholeBody = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, method: request.method, path: escapeTarget(request.target), headers, agent: false, localAddress: request.from },
      (res) => {
        let sample = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (sample.length < BODY_SAMPLE) sample += chunk;
        });
        const done = () => {
          clearTimeout(timer);
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
          resolve({ status: res.statusCode, headers: flat, bodyStart: sample.slice(0, BODY_SAMPLE), sentWholeBody });
        };
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED') reject(new Error('connection refused: the server is not listening'));
      // The server may answer and close before reading a body it refuses: no status seen.
      else resolve({ headers: {}, bodyStart: '', sentWholeBody });
    });
    (async () => {
      for (const piece of bodyPieces(request.body)) {
        if (!req.write(piece)) await new Promise((done) => req.once('drain', done));
      }
      sentWholeBody = true;
      req.end();
    })().catch(() => undefined);
  });
}

/** node:http refuses unescaped characters in a path; escape exactly those, keep every `%` as sent. */
function escapeTarget(target: string): string {
  return target.replace(/[^\x21-\x7e]/gu, (character) => encodeURIComponent(character));
}

/** One line per request, enough to replay it by hand. */
export function describeRequest(request: FuzzRequest): string {
  const body = request.body;
  const bodyText =
    body.kind === 'none'
      ? 'no body'
      : body.kind === 'filler'
        ? `${body.size} bytes of 0x${body.byte.toString(16)}`
        : `${body.bytes.length} bytes ${JSON.stringify(body.bytes.subarray(0, 300).toString('latin1'))}${body.bytes.length > 300 ? '…' : ''}`;
  const parts = [
    `[${request.family}] ${needsRawSocket(request) ? 'raw socket' : 'node:http'}${request.from ? ` from ${request.from}` : ''}`,
    request.raw ? `raw bytes ${JSON.stringify(request.raw.subarray(0, 300).toString('latin1'))}` : `${request.method} ${request.target}`,
    ...request.headers.map(([name, value]) => `  ${name}: ${value.length > 200 ? `${value.slice(0, 200)}… (${value.length} chars)` : value}`),
    `  body: ${bodyText}, framing ${JSON.stringify(request.framing)}`,
  ];
  if (request.abort) parts.push(`  client aborts ${JSON.stringify(request.abort)}`);
  return parts.join('\n');
}
