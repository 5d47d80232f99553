import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { OciClient } from '../support/oci-client.js';

/** Helpers shared by the auth integration and client tests. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** An OciClient that sends one Authorization header with every request. */
export class AuthorizedClient extends OciClient {
  constructor(
    base: string,
    private readonly authorization: string | undefined,
  ) {
    super(base);
  }

  override request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.authorization) headers.set('Authorization', this.authorization);
    return super.request(path, { ...init, headers });
  }
}

/** `htpasswd -Bbn` when apache2-utils is installed, else Berth's own writer (same format). */
export function htpasswdEntry(user: string, password: string, cli: string): string {
  try {
    return execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return execFileSync(process.execPath, [cli, 'htpasswd', user, password], { encoding: 'utf8' }).trim();
  }
}

/** A GET from a chosen loopback source address (another "client" for throttling). */
export function getFrom(base: string, path: string, localAddress: string, authorization?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, localAddress, headers: authorization ? { Authorization: authorization } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function tokenFor(base: string, scopes: string[], authorization?: string, service = 'berth'): Promise<string> {
  const query = new URLSearchParams({ service });
  for (const scope of scopes) query.append('scope', scope);
  const response = await fetch(new URL(`/token?${query}`, base), { headers: authorization ? { Authorization: authorization } : {} });
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}
