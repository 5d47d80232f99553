import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AccessDeniedError } from '../auth/errors.js';
import type { AuthenticationResult, Authenticator } from '../auth/principal.js';
import { TokenRequestError, type TokenService } from '../auth/token-service.js';
import { credentialsOf, readSmallBody, type Endpoint } from './access.js';
import { sendJson, sendTokenError } from './respond.js';

/**
 * The built-in token service over HTTP (Docker token authentication specification):
 *   GET  /token?service=…&scope=…[&offline_token=true]   Basic credentials or none (anonymous)
 *   POST /token  grant_type=password|refresh_token        OAuth2, form-encoded
 * Only the translation lives here; `auth/TokenService` decides what a token grants.
 */
const MAX_FORM_BYTES = 64 * 1024;

export function tokenEndpoint(service: TokenService, passwords: Authenticator, realm: string): Endpoint {
  return {
    matches: (path) => path === '/token' || path === '/token/',
    async handle(req, res, _path, query, log) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Pragma', 'no-cache');
        if (req.method === 'GET') return await get(req, res, query);
        if (req.method === 'POST') return await post(req, res);
        res.setHeader('Allow', 'GET, POST');
        throw new TokenRequestError('invalid_request', `${req.method ?? ''} is not supported on /token`);
      } catch (error) {
        sendTokenError(req, res, error, log);
      }
    },
  };

  async function get(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    service.checkService(query.get('service'));
    const scopes = service.parseScopes(query.getAll('scope'));
    const credentials = credentialsOf(req);
    // Only Basic (or nothing) is a login here; a stale Bearer header is ignored.
    if (credentials.authorization !== undefined && !/^basic(?: |$)/i.test(credentials.authorization)) delete credentials.authorization;
    const principal = authenticated(await passwords.authenticate(credentials));
    sendJson(req, res, 200, await service.issue(principal, scopes, query.get('offline_token') === 'true'));
  }

  async function post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') throw new TokenRequestError('invalid_request', 'POST /token takes an application/x-www-form-urlencoded body');
    const form = new URLSearchParams(await readSmallBody(req, MAX_FORM_BYTES, () => new TokenRequestError('invalid_request', 'the form is too large')));
    service.checkService(form.get('service'));
    const scopes = service.parseScopes(form.getAll('scope'));
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      const refreshToken = form.get('refresh_token');
      if (!refreshToken) throw new TokenRequestError('invalid_request', 'refresh_token is required');
      return sendJson(req, res, 200, await service.refresh(refreshToken, scopes));
    }
    if (grant !== 'password') throw new TokenRequestError('unsupported_grant_type', 'grant_type must be password or refresh_token');
    const username = form.get('username');
    const password = form.get('password');
    if (!username || password === null) throw new TokenRequestError('invalid_request', 'username and password are required');
    const credentials = { ...credentialsOf(req), authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
    const principal = authenticated(await passwords.authenticate(credentials));
    sendJson(req, res, 200, await service.issue(principal, scopes, form.get('access_type') === 'offline'));
  }

  function authenticated(result: AuthenticationResult) {
    if (result.outcome === 'authenticated') return result.principal;
    if (result.outcome === 'not-mine') return { kind: 'anonymous' as const };
    if (result.throttled) {
      throw new AccessDeniedError('TOOMANYREQUESTS', `${result.reason}; retry in ${result.throttled.retryAfterSeconds} s`, null, undefined, result.throttled.retryAfterSeconds);
    }
    throw new AccessDeniedError('UNAUTHORIZED', result.reason, null, { scheme: 'Basic', params: { realm } });
  }
}
