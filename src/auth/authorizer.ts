import { CATALOG_ACCESS, intersectAccess, type ResourceAccess } from './access.js';
import { ANONYMOUS_ROLE, type AccessStore, type Permission } from './access-store.js';
import { matchesPattern } from './patterns.js';
import type { Principal } from './principal.js';

/**
 * `grant(principal, requested)` returns the part of `requested` the principal holds: one entry
 * per requested resource, with only the granted actions (possibly none). The same call decides
 * a Basic-authenticated request and the claims of a token the token service issues.
 */
export interface Authorizer {
  grant(principal: Principal, requested: ResourceAccess[]): Promise<ResourceAccess[]>;
  /** May manage the registry (users, roles, collection, every repository). */
  isAdministrator(principal: Principal): Promise<boolean>;
}

function none(requested: ResourceAccess[]): ResourceAccess[] {
  return requested.map((entry) => ({ ...entry, actions: [] }));
}

/** A bearer token's claims bound what any policy would give: the token is all the client has. */
function bounded(principal: Principal, requested: ResourceAccess[]): ResourceAccess[] | undefined {
  return principal.claims ? intersectAccess(requested, principal.claims) : undefined;
}

/** registry:2's htpasswd semantics: any authenticated user may do anything; nobody else anything. */
export class AuthenticatedFullAccess implements Authorizer {
  async grant(principal: Principal, requested: ResourceAccess[]): Promise<ResourceAccess[]> {
    const fromToken = bounded(principal, requested);
    if (fromToken) return fromToken;
    return principal.kind === 'anonymous' ? none(requested) : requested.map((entry) => ({ ...entry, actions: [...entry.actions] }));
  }

  /** Every password or certificate login may do everything; a token only what it claims. */
  async isAdministrator(principal: Principal): Promise<boolean> {
    return principal.kind === 'user' && !principal.claims;
  }
}

/**
 * Roles from the access store. `push` and `delete` imply `pull`; `admin` implies everything.
 * htpasswd users are operators and hold everything (as in registry:2). Anonymous clients hold
 * the `anonymous` role's permissions, capped to `pull`. Any principal holding some permission
 * may ask for the catalog, which is then filtered to what it may pull.
 */
export class RoleAuthorizer implements Authorizer {
  constructor(private readonly store: AccessStore) {}

  async grant(principal: Principal, requested: ResourceAccess[]): Promise<ResourceAccess[]> {
    const fromToken = bounded(principal, requested);
    if (fromToken && !principal.localToken) return fromToken;
    let granted: ResourceAccess[];
    if (principal.kind === 'user' && principal.source === 'htpasswd') {
      granted = requested.map((entry) => ({ ...entry, actions: [...entry.actions] }));
    } else {
      const permissions = await this.permissions(principal);
      granted = requested.map((entry) => ({ ...entry, actions: entry.actions.filter((action) => allows(permissions, entry, action)) }));
    }
    // A token of ours is still bounded by its claims, even after the user gained rights.
    return fromToken ? intersectAccess(granted, fromToken) : granted;
  }

  /** Repository names among `names` the principal may pull (the catalog filter). */
  async pullable(principal: Principal, names: string[]): Promise<string[]> {
    const granted = await this.grant(principal, names.map((name) => ({ type: 'repository', name, actions: ['pull'] })));
    return granted.filter((entry) => entry.actions.length > 0).map((entry) => entry.name);
  }

  /** `admin` on `*`: may manage users and roles. htpasswd users are operators. */
  async isAdministrator(principal: Principal): Promise<boolean> {
    if (principal.kind !== 'user' || (principal.claims && !principal.localToken)) return false;
    if (principal.source === 'htpasswd') return true;
    const permissions = await this.store.permissionsOf(principal.name);
    return permissions.some((permission) => permission.pattern === '*' && permission.actions.includes('admin'));
  }

  private async permissions(principal: Principal): Promise<Permission[]> {
    if (principal.kind === 'anonymous') {
      return (await this.store.permissionsOfRole(ANONYMOUS_ROLE)).map((permission) => ({
        pattern: permission.pattern,
        actions: permission.actions.length > 0 ? ['pull'] : [],
      }));
    }
    return this.store.permissionsOf(principal.name);
  }
}

function allows(permissions: Permission[], entry: ResourceAccess, action: string): boolean {
  if (entry.type === CATALOG_ACCESS.type && entry.name === CATALOG_ACCESS.name) {
    return action === '*' && permissions.some((permission) => permission.actions.length > 0);
  }
  if (entry.type !== 'repository') return false;
  return permissions.some((permission) => {
    if (!matchesPattern(permission.pattern, entry.name)) return false;
    const held = permission.actions;
    if (held.includes('admin')) return true;
    if (action === 'pull') return held.length > 0;
    return (held as string[]).includes(action);
  });
}
