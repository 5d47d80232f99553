import type { IncomingMessage } from 'node:http';
import type { AccessGate } from '../auth/gate.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { RepositoryName } from '../oci/names.js';
import { credentialsOf, isLoopback } from './access.js';
import { AdminError } from './admin-errors.js';

/** What an admin route (or UI page) needs of its caller. */
export type Requirement =
  | { kind: 'anyone' }
  | { kind: 'login' }
  | { kind: 'administrator' }
  | { kind: 'repository'; action: 'pull' | 'push' | 'delete' };

/**
 * Who is calling. `operator`: the registry has no access control and the caller is on loopback —
 * the person running it; only they may administer an open registry.
 */
export interface Caller {
  principal: Principal;
  operator: boolean;
}

const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="berth admin"' };

/**
 * The one place that authenticates and authorises admin calls, for the `/api/v1` router and the
 * web UI alike (the UI brings its session's principal instead of an Authorization header).
 */
export class AdminAccess {
  constructor(private readonly gate: AccessGate | undefined) {}

  get controlled(): boolean {
    return this.gate !== undefined;
  }

  /** The caller behind an HTTP request's credentials; bad credentials are refused here. */
  async callerOf(req: IncomingMessage): Promise<Caller> {
    if (!this.gate) return { principal: ANONYMOUS, operator: isLoopback(req.socket.remoteAddress) };
    const result = await this.gate.authenticate(credentialsOf(req));
    if (result.outcome === 'rejected') {
      if (result.throttled) throw new AdminError('TOO_MANY_REQUESTS', result.reason, null, { 'Retry-After': String(result.throttled.retryAfterSeconds) });
      throw new AdminError('UNAUTHORIZED', result.reason, null, CHALLENGE);
    }
    return { principal: result.outcome === 'authenticated' ? result.principal : ANONYMOUS, operator: false };
  }

  /** Refuses (401 for nobody, 403 for somebody) unless the caller meets the requirement. */
  async require(caller: Caller, requirement: Requirement, repository?: RepositoryName): Promise<void> {
    if (await this.allows(caller, requirement, repository)) return;
    if (caller.principal.kind === 'anonymous' && this.gate) throw new AdminError('UNAUTHORIZED', 'authentication required', null, CHALLENGE);
    throw new AdminError('DENIED', refusal(requirement, repository, this.gate !== undefined));
  }

  async allows(caller: Caller, requirement: Requirement, repository?: RepositoryName): Promise<boolean> {
    const { principal } = caller;
    switch (requirement.kind) {
      case 'anyone':
        return true;
      case 'login':
        return caller.operator || principal.kind === 'user';
      case 'administrator':
        return caller.operator || (this.gate !== undefined && (await this.gate.authorizer.isAdministrator(principal)));
      case 'repository': {
        if (!this.gate) return true; // an open registry: /v2 lets anyone do the same
        if (repository === undefined) return false;
        const [granted] = await this.gate.authorizer.grant(principal, [{ type: 'repository', name: repository, actions: [requirement.action] }]);
        return granted?.actions.includes(requirement.action) ?? false;
      }
    }
  }

  /** Which of `names` the caller may pull (lists and search show nothing else). */
  async visible(caller: Caller, names: RepositoryName[]): Promise<RepositoryName[]> {
    if (!this.gate) return names;
    return (await this.gate.pullable(caller.principal, names)) as RepositoryName[];
  }
}

function refusal(requirement: Requirement, repository: string | undefined, controlled: boolean): string {
  if (requirement.kind === 'administrator') {
    return controlled ? 'this operation needs an administrator (admin on *)' : 'administration of a registry without access control answers loopback clients only';
  }
  if (requirement.kind === 'repository') return `this operation needs ${requirement.action} on ${repository ?? 'the repository'}`;
  return 'authentication required';
}
