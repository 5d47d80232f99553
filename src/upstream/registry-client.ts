import type { Readable } from 'node:stream';
import type { UpstreamConfig } from '../config/repositories.js';
import { RegistryError } from '../oci/errors.js';
import { readUpTo } from '../core/text.js';
import { parseChallenge } from './challenge.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { HttpTransport, type TransportResponse } from './http-transport.js';
import { Semaphore } from './semaphore.js';
import { UpstreamUnavailable } from './unavailable.js';

export { UpstreamUnavailable };

/**
 * HTTP to one upstream registry: its credentials, its tokens, its health. Credentials go only
 * to the upstream and to a token realm on its own domain; the client's own credentials never
 * reach this module. Failures a cache may hide (timeouts, connection errors, 5xx, 429) are
 * `UpstreamUnavailable`; everything else is the upstream's answer.
 */
export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** Null for HEAD; a stream that must be consumed or destroyed (it holds a connection slot). */
  body: Readable | null;
}

export interface UpstreamOptions {
  maxConnections?: number;
  now?: () => number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

const TOKEN_SAFETY_MS = 10_000;
/** A token answer is a small JSON document. */
const MAX_TOKEN_BYTES = 1024 * 1024;

export class RegistryClient {
  readonly host: string;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly slots: Semaphore;
  readonly breaker: CircuitBreaker;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly transport = new HttpTransport();
  /** Basic credentials are sent up front once the upstream has asked for them. */
  private basicWanted = false;

  constructor(private readonly config: UpstreamConfig, options: UpstreamOptions = {}) {
    this.host = new URL(config.url).host;
    this.now = options.now ?? Date.now;
    this.timeoutMs = config.timeoutMs;
    this.slots = new Semaphore(options.maxConnections ?? 32);
    this.breaker = new CircuitBreaker(this.now);
  }

  /** `path` starts with `/v2/`; `scope` is the token scope it needs (`repository:library/alpine:pull`). */
  async request(method: 'GET' | 'HEAD', path: string, scope: string, headers: Record<string, string> = {}): Promise<UpstreamResponse> {
    this.breaker.check(this.host);
    const release = await this.slots.acquire();
    let released = false;
    const done = () => {
      if (!released) release();
      released = true;
    };
    try {
      let response = await this.send(method, path, { ...headers, ...this.authorization(scope) });
      if (response.status === 401) {
        response.body.resume();
        const retry = await this.authorizationAfter(response.headers.get('www-authenticate'), scope);
        if (retry) response = await this.send(method, path, { ...headers, ...retry });
      }
      if (response.status >= 500 || response.status === 429) {
        response.body.resume();
        const retryAfter = retryAfterMs(response.headers.get('retry-after'), this.now);
        throw new UpstreamUnavailable(`upstream ${this.host} answered ${response.status}`, retryAfter);
      }
      this.breaker.succeeded();
      if (method === 'HEAD') {
        response.body.resume();
        done();
        return { status: response.status, headers: response.headers, body: null };
      }
      const { body } = response;
      body.once('close', done);
      body.once('end', done);
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      done();
      if (error instanceof UpstreamUnavailable) {
        this.breaker.failed(error.retryAfterMs);
        throw error;
      }
      if (error instanceof RegistryError) throw error;
      this.breaker.failed();
      throw new UpstreamUnavailable(`upstream ${this.host} did not answer: ${describe(error)}`);
    }
  }

  private send(method: 'GET' | 'HEAD', path: string, headers: Record<string, string>): Promise<TransportResponse> {
    return this.transport.send(method, new URL(`${this.config.url}${path}`), headers, this.timeoutMs);
  }

  private authorization(scope: string): Record<string, string> {
    const token = this.tokens.get(scope);
    if (token && token.expiresAt > this.now()) return { Authorization: `Bearer ${token.token}` };
    if (this.basicWanted && this.config.username !== undefined) return { Authorization: this.basic() };
    return {};
  }

  private basic(): string {
    return `Basic ${Buffer.from(`${this.config.username}:${this.config.password ?? ''}`).toString('base64')}`;
  }

  /** The one retry after a 401: Basic when asked for it, or a token from the challenge's realm. */
  private async authorizationAfter(header: string | null, scope: string): Promise<Record<string, string> | undefined> {
    const challenge = parseChallenge(header);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      if (this.config.username === undefined) return undefined;
      this.basicWanted = true;
      return { Authorization: this.basic() };
    }
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    const token = await this.fetchToken(challenge.params.realm, challenge.params.service, challenge.params.scope ?? scope);
    this.tokens.set(scope, token);
    return { Authorization: `Bearer ${token.token}` };
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamUnavailable(`upstream ${this.host} named an invalid token realm`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamUnavailable(`upstream ${this.host} named a token realm that is not HTTP`);
    if (service) url.searchParams.set('service', service);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (this.config.username !== undefined && sameDomain(url.hostname, new URL(this.config.url).hostname)) headers.Authorization = this.basic();
    const response = await this.transport.send('GET', url, headers, this.timeoutMs);
    if (response.status >= 500 || response.status === 429) {
      response.body.resume();
      throw new UpstreamUnavailable(`token realm of ${this.host} answered ${response.status}`);
    }
    if (response.status < 200 || response.status >= 300) {
      response.body.resume();
      throw new RegistryError('DENIED', `the upstream ${this.host} refused a token for ${scope} (${response.status}): check the proxy's upstream credentials`);
    }
    const text = await readUpTo(response.body, MAX_TOKEN_BYTES);
    if (!text) throw new UpstreamUnavailable(`token realm of ${this.host} answered more than ${MAX_TOKEN_BYTES} bytes`);
    const body = parseToken(text);
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamUnavailable(`token realm of ${this.host} answered without a token`);
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    return { token, expiresAt: this.now() + Math.max(0, lifetimeMs - TOKEN_SAFETY_MS) };
  }
}

/**
 * A realm on the upstream's own domain (Docker Hub: registry-1.docker.io → auth.docker.io): the
 * same host, or a host under the upstream's parent domain when that parent still has two labels
 * (so `ghcr.io` trusts only itself, never all of `.io`). An IP address matches only itself.
 */
export function sameDomain(realmHost: string, upstreamHost: string): boolean {
  if (realmHost === upstreamHost) return true;
  const isAddress = (host: string) => /^[\d.]+$/.test(host) || host.includes(':');
  if (isAddress(realmHost) || isAddress(upstreamHost)) return false;
  const parent = upstreamHost.split('.').slice(1);
  if (parent.length < 2) return false;
  const domain = parent.join('.');
  return realmHost === domain || realmHost.endsWith(`.${domain}`);
}

function retryAfterMs(header: string | null, now: () => number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now());
}

function describe(error: unknown): string {
  const failure = error as { code?: string; message?: string };
  return failure.code ?? failure.message ?? String(error);
}

function parseToken(text: Buffer): { token?: string; access_token?: string; expires_in?: number } {
  try {
    const parsed: unknown = JSON.parse(text.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}
