import { checkPermission, type Accounts } from '../auth/accounts.js';
import type { RoleAction } from '../auth/access-store.js';
import type { RepositoryBrowser } from '../core/browse.js';
import { CollectionInProgressError, summarise, type GarbageCollector } from '../core/garbage-collector.js';
import type { Registry } from '../core/registry.js';
import type { RepositoryName } from '../oci/names.js';
import type { Endpoint } from './access.js';
import type { AdminAccess } from './admin-access.js';
import { AdminError } from './admin-errors.js';
import { adminRouter, route, validateQuery, type AdminRoute } from './admin-router.js';
import { GcLastQuery, GcQuery, PasswordBody, RepositoriesQuery, RetentionQuery, RoleBody, RolesBody, TagsQuery, UserBody } from './admin-schemas.js';

/**
 * The admin REST API under `/api/v1` (every route is documented in docs/admin-api.md). Each
 * route calls one use case; the router authenticates, authorises and validates.
 */
export interface AdminApiDependencies {
  access: AdminAccess;
  registry: Registry;
  collector: GarbageCollector;
  browser: RepositoryBrowser;
  graceMs: number;
  /** Present when the registry keeps users and roles (`auth.accounts` or the token issuer). */
  accounts?: Accounts;
}

export function adminApi(deps: AdminApiDependencies): Endpoint {
  return adminRouter(deps.access, [...identityRoutes(deps), ...(deps.accounts ? accountRoutes(deps.accounts) : []), ...lifecycleRoutes(deps), ...repositoryRoutes(deps)]);
}

function identityRoutes({ access }: AdminApiDependencies): AdminRoute[] {
  return [
    route({
      method: 'GET', path: 'whoami', requires: { kind: 'login' },
      handle: async ({ caller }) => ({
        status: 200,
        body: {
          name: caller.principal.kind === 'user' ? caller.principal.name : null,
          source: caller.principal.kind === 'user' ? caller.principal.source : null,
          administrator: await access.allows(caller, { kind: 'administrator' }),
        },
      }),
    }),
  ];
}

function accountRoutes(accounts: Accounts): AdminRoute[] {
  const admin = { kind: 'administrator' } as const;
  return [
    route({ method: 'GET', path: 'users', requires: admin, handle: async () => ({ status: 200, body: { users: await accounts.listUsers() } }) }),
    route({ method: 'GET', path: 'users/{name}', requires: admin, handle: async ({ params }) => ({ status: 200, body: await accounts.getUser(params.name!) }) }),
    route({
      method: 'PUT', path: 'users/{name}', requires: admin, body: UserBody,
      handle: async ({ params, body }) => {
        const created = await accounts.putUser(params.name!, body.password, body.roles);
        return { status: created ? 201 : 200, body: await accounts.getUser(params.name!) };
      },
    }),
    route({
      method: 'PUT', path: 'users/{name}/password', requires: admin, body: PasswordBody,
      handle: async ({ params, body }) => {
        await accounts.setPassword(params.name!, body.password);
        return { status: 204 };
      },
    }),
    route({
      method: 'PUT', path: 'users/{name}/roles', requires: admin, body: RolesBody,
      handle: async ({ params, body }) => {
        await accounts.setRoles(params.name!, body.roles);
        return { status: 204 };
      },
    }),
    route({
      method: 'DELETE', path: 'users/{name}', requires: admin,
      handle: async ({ params }) => {
        await accounts.removeUser(params.name!);
        return { status: 204 };
      },
    }),
    route({ method: 'GET', path: 'roles', requires: admin, handle: async () => ({ status: 200, body: { roles: await accounts.listRoles() } }) }),
    route({ method: 'GET', path: 'roles/{name}', requires: admin, handle: async ({ params }) => ({ status: 200, body: await accounts.getRole(params.name!) }) }),
    route({
      method: 'PUT', path: 'roles/{name}', requires: admin, body: RoleBody,
      handle: async ({ params, body }) => {
        const permissions = body.permissions.map((permission) => checkPermission({ pattern: permission.pattern, actions: permission.actions as RoleAction[] }));
        const created = await accounts.putRole(params.name!, body.description ?? '', permissions);
        return { status: created ? 201 : 200, body: await accounts.getRole(params.name!) };
      },
    }),
    route({
      method: 'DELETE', path: 'roles/{name}', requires: admin,
      handle: async ({ params }) => {
        await accounts.removeRole(params.name!);
        return { status: 204 };
      },
    }),
  ];
}

function lifecycleRoutes({ registry, collector, graceMs }: AdminApiDependencies): AdminRoute[] {
  const admin = { kind: 'administrator' } as const;
  return [
    route({
      method: 'POST', path: 'gc', requires: admin,
      handle: async ({ query, log }) => {
        const options = validateQuery(GcQuery, query);
        const report = await collectNow(collector, { dryRun: options.dryRun, deleteUntagged: options.deleteUntagged, graceMs });
        log.info({ bytesFreed: report.bytesFreed, dryRun: report.dryRun }, 'garbage collection requested through the API');
        return { status: 200, body: options.details ? report : summarise(report) };
      },
    }),
    route({
      method: 'GET', path: 'gc/last', requires: admin,
      handle: async ({ query }) => {
        const options = validateQuery(GcLastQuery, query);
        const report = collector.lastReport;
        if (!report) throw new AdminError('NOT_FOUND', 'no garbage collection has run since the server started');
        if (!options.list) return { status: 200, body: summarise(report) };
        const items: unknown[] = report.details[options.list];
        return {
          status: 200,
          body: { list: options.list, total: items.length, offset: options.offset, limit: options.limit, items: items.slice(options.offset, options.offset + options.limit) },
        };
      },
    }),
    route({
      method: 'POST', path: 'retention', requires: admin,
      handle: async ({ query }) => ({ status: 200, body: await registry.retention.run(validateQuery(RetentionQuery, query).dryRun) }),
    }),
    route({ method: 'GET', path: 'usage', requires: admin, handle: async () => ({ status: 200, body: { repositories: await registry.metadata.listUsage() } }) }),
  ];
}

function repositoryRoutes({ access, registry, browser }: AdminApiDependencies): AdminRoute[] {
  return [
    route({
      method: 'GET', path: 'repositories', requires: { kind: 'anyone' },
      handle: async ({ caller, query }) => {
        const options = validateQuery(RepositoriesQuery, query);
        const found = await browser.repositories((names) => access.visible(caller, names), { ...options, filter: options.q });
        return { status: 200, body: { total: found.total, offset: found.offset, limit: found.limit, repositories: found.items } };
      },
    }),
    route({
      method: 'GET', path: 'repositories/{name+}/tags', requires: { kind: 'repository', action: 'pull' },
      handle: async ({ repository, query }) => {
        const options = validateQuery(TagsQuery, query);
        const found = await browser.tags(repository!, { ...options, filter: options.q });
        return { status: 200, body: { repository, total: found.total, offset: found.offset, limit: found.limit, tags: found.items } };
      },
    }),
    route({
      method: 'DELETE', path: 'repositories/{name+}', requires: { kind: 'repository', action: 'delete' },
      handle: async ({ repository }) => ({ status: 200, body: await registry.deleteRepository(repository as RepositoryName) }),
    }),
  ];
}

/** Runs a collection now; one already running is a conflict the caller may retry after. */
export async function collectNow(collector: GarbageCollector, options: Parameters<GarbageCollector['collect']>[0]) {
  try {
    return await collector.collect(options);
  } catch (error) {
    if (error instanceof CollectionInProgressError) throw new AdminError('CONFLICT', 'a garbage collection is already running; try again when it has finished');
    throw error;
  }
}
