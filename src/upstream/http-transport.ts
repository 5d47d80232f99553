import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** As many as fetch follows for a registry's blob redirect chains (CDN, signed URL). */
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface TransportResponse {
  status: number;
  headers: Headers;
  /** Must be consumed or destroyed: it holds a connection. */
  body: IncomingMessage;
}

/**
 * HTTP/1.1 to an upstream with kept-alive connections. The body is the socket's own Node
 * stream: a 256 MiB layer through `fetch` became web-stream chunks converted back to a Node
 * stream, one promise and copy per chunk. Redirects are followed as `fetch` does, and an
 * `Authorization` header is never carried to another origin.
 */
export class HttpTransport {
  private readonly http = new HttpAgent({ keepAlive: true });
  private readonly https = new HttpsAgent({ keepAlive: true });

  /** `timeoutMs` bounds the wait for each response's headers; the body is the caller's to time. */
  async send(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, timeoutMs: number): Promise<TransportResponse> {
    let target = url;
    let sent = headers;
    for (let redirects = 0; ; redirects++) {
      const response = await this.exchange(method, target, sent, timeoutMs);
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
      response.body.resume();
      if (redirects === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url.host}`);
      const next = new URL(location, target);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Error(`${target.host} redirected to a URL that is not HTTP`);
      if (next.origin !== target.origin) sent = withoutAuthorization(sent);
      target = next;
    }
  }

  private exchange(method: string, url: URL, headers: Record<string, string>, timeoutMs: number): Promise<TransportResponse> {
    const https = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const request = (https ? httpsRequest : httpRequest)(url, { method, headers, agent: https ? this.https : this.http }, (response) => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: toHeaders(response.headers), body: response });
      });
      const timer = setTimeout(() => request.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      request.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      request.end();
    });
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}
