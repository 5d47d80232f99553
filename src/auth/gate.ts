import type { Route } from '../oci/routes.js';
import { covers, formatScope, type ResourceAccess } from './access.js';
import type { Authorizer } from './authorizer.js';
import { AccessDeniedError, type Challenge } from './errors.js';
import type { AuthenticationResult, Authenticator, ClientCredentials, Principal } from './principal.js';
import { requiredAccess } from './required-access.js';

/**
 * How clients are told to authenticate: `Basic realm=…` (htpasswd, accounts) or
 * `Bearer realm=…,service=…` (token). A built-in token service without a configured realm
 * points at `/token` on the host the client used.
 */
export type ChallengeConfig = { scheme: 'basic'; realm: string } | { scheme: 'bearer'; realm?: string; service: string };

export interface RequestDecision {
  principal: Principal;
  /** The cross-repo mount source may not be read: serve the request as a plain upload start. */
  dropMount: boolean;
}

/**
 * The access check between route parse and handler: authenticate (the chain), work out the
 * access the (method, route) needs, `grant`, then pass, or refuse with 401 + challenge (no or
 * bad credentials, or a token that does not cover the resource) or 403 DENIED (a known
 * principal lacking the action). Anonymous `/v2/` gets 401 so clients learn the challenge.
 */
export class AccessGate {
  constructor(
    private readonly authenticator: Authenticator,
    readonly authorizer: Authorizer,
    readonly challengeConfig: ChallengeConfig,
  ) {}

  authenticate(credentials: ClientCredentials): Promise<AuthenticationResult> {
    return this.authenticator.authenticate(credentials);
  }

  async check(credentials: ClientCredentials, method: string, route: Route, query: URLSearchParams, origin: string): Promise<RequestDecision> {
    const { required, optional } = requiredAccess(method, route, query);
    const result = await this.authenticator.authenticate(credentials);
    if (result.outcome === 'rejected') throw this.rejection(result, required, origin, /^bearer(?: |$)/i.test(credentials.authorization ?? ''));
    if (result.outcome === 'not-mine') throw new Error('the authenticator chain must not answer not-mine');
    const { principal } = result;
    if (route.kind === 'base' && principal.kind === 'anonymous' && !principal.claims) {
      throw this.unauthorized('authentication required', required, origin);
    }
    const granted = await this.authorizer.grant(principal, [...required, ...optional]);
    if (covers(granted, required)) return { principal, dropMount: optional.length > 0 && !covers(granted, optional) };

    const detail = required.flatMap((entry) => entry.actions.map((action) => ({ Type: entry.type, Name: entry.name, Action: action })));
    if (principal.kind === 'anonymous' && !principal.claims) throw this.unauthorized('authentication required', required, origin);
    if (principal.claims && !required.every((entry) => principal.claims!.some((claim) => claim.type === entry.type && claim.name === entry.name))) {
      // The token was issued for other resources: the client should fetch one for these.
      throw this.unauthorized('the token does not cover this resource', required, origin, 'insufficient_scope');
    }
    throw new AccessDeniedError('DENIED', 'requested access to the resource is denied', detail);
  }

  /** Repository names the principal may pull, for `_catalog`. A token's repository claims are not consulted. */
  async pullable(principal: Principal, names: string[]): Promise<string[]> {
    if (principal.claims && !principal.localToken) return names; // an external issuer granted the catalog: as registry:2
    const subject: Principal = principal.kind === 'user' ? { kind: 'user', name: principal.name, source: principal.source } : { kind: 'anonymous' };
    const granted = await this.authorizer.grant(subject, names.map((name) => ({ type: 'repository', name, actions: ['pull'] })));
    return granted.filter((entry) => entry.actions.length > 0).map((entry) => entry.name);
  }

  challenge(required: ResourceAccess[], origin: string, error?: string): Challenge {
    const config = this.challengeConfig;
    if (config.scheme === 'basic') return { scheme: 'Basic', params: { realm: config.realm } };
    const params: Record<string, string> = { realm: config.realm ?? `${origin}/token`, service: config.service };
    const scopes = required.filter((entry) => entry.actions.length > 0).map(formatScope);
    if (scopes.length > 0) params.scope = scopes.join(' ');
    if (error) params.error = error;
    return { scheme: 'Bearer', params };
  }

  rejection(result: Extract<AuthenticationResult, { outcome: 'rejected' }>, required: ResourceAccess[], origin: string, badToken: boolean): AccessDeniedError {
    if (result.throttled) {
      return new AccessDeniedError('TOOMANYREQUESTS', `${result.reason}; retry in ${result.throttled.retryAfterSeconds} s`, null, undefined, result.throttled.retryAfterSeconds);
    }
    return this.unauthorized(result.reason, required, origin, badToken && this.challengeConfig.scheme === 'bearer' ? 'invalid_token' : undefined);
  }

  private unauthorized(message: string, required: ResourceAccess[], origin: string, error?: string): AccessDeniedError {
    const detail = required.flatMap((entry) => entry.actions.map((action) => ({ Type: entry.type, Name: entry.name, Action: action })));
    return new AccessDeniedError('UNAUTHORIZED', message, detail.length > 0 ? detail : null, this.challenge(required, origin, error));
  }
}
