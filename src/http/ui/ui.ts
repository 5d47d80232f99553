import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parsePermission, type Accounts } from '../../auth/accounts.js';
import type { Authenticator } from '../../auth/principal.js';
import type { AuditTrail } from '../../core/audit.js';
import type { RepositoryBrowser, RepositorySort, SortOrder } from '../../core/browse.js';
import type { CollectionRuns } from '../../core/collection-runs.js';
import { CollectionInProgressError } from '../../core/garbage-collector.js';
import type { ImageInspector } from '../../core/image-details.js';
import type { NamespaceTree } from '../../core/namespaces.js';
import type { PolicyAdministration } from '../../core/policy-admin.js';
import { quotaFor } from '../../core/repository-policies.js';
import type { Registry } from '../../core/registry.js';
import type { RequestContext } from '../../core/notifications/events.js';
import type { RepositoriesConfig } from '../../config/repositories.js';
import { ConfigError } from '../../config/load.js';
import { isDigest, type Digest } from '../../oci/digest.js';
import { isRepositoryName, isTag, printable, type RepositoryName, type Tag } from '../../oci/names.js';
import type { ManifestReference } from '../../oci/routes.js';
import { credentialsOf, isLoopback, originOf, readSmallBody, requestContextOf, type Endpoint } from '../access.js';
import { sendAuditExport } from '../audit-api.js';
import type { AdminAccess, Caller, Requirement } from '../admin-access.js';
import { ADMIN_ERROR_TABLE, AdminError, adminErrorOf } from '../admin-errors.js';
import { loadAssets, type UiAssets } from './assets.js';
import type { SafeHtml } from './html.js';
import * as adminPages from './admin-pages.js';
import { AUDIT_PAGE_SIZE, auditExportQuery, auditFilterOf, auditQueryOf, formOfPolicy, policyFromForm } from './forms.js';
import { page, type Viewer } from './layout.js';
import * as pages from './pages.js';
import { SessionStore, token, type Session } from './sessions.js';
import type { WebSessionIndex } from '../../metadata/store.js';

/**
 * The web UI under `/ui/`, served by Berth on the same origin as `/v2/`: server-rendered pages
 * that call core use cases directly (never Berth's own HTTP API), with htmx for small
 * enhancements. Every page asks `AdminAccess` (the admin API's one authorisation step) with
 * the session's principal. Sessions: an HttpOnly, SameSite=Strict cookie; every POST carries the
 * session's CSRF token and, when the browser sends one, a same-origin `Origin`. The
 * Content-Security-Policy allows only this origin's files: no inline script or style.
 */
export interface UiDependencies {
  access: AdminAccess;
  /** Checks UI logins (the registry's authenticator chain, audited). */
  gate?: Authenticator;
  accounts?: Accounts;
  registry: Registry;
  /** Collections the UI starts run in the background; the page shows their progress. */
  collections: CollectionRuns;
  browser: RepositoryBrowser;
  tree: NamespaceTree;
  inspector: ImageInspector;
  /** Repository policies administered on the settings pages. */
  policies: PolicyAdministration;
  audit: AuditTrail;
  /** Proxy and group repositories, shown read-only on the settings pages. */
  repositories: RepositoriesConfig;
  graceMs: number;
  /** Where sessions live: the metadata database, shared by replicas. */
  sessionIndex: WebSessionIndex;
  now: () => number;
}

const SESSION_COOKIE = 'berth_session';
const LOGIN_COOKIE = 'berth_login';
const MAX_FORM = 64 * 1024;
const PAGE_SIZE = 50;
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};
const MESSAGES: Record<string, string> = {
  created: 'Created.', saved: 'Saved.', removed: 'Removed.', reset: 'Password reset; that user\'s sessions have ended.', deleted: 'Deleted.',
};

export function webUi(deps: UiDependencies): Endpoint & { sessions: SessionStore } {
  const assets = loadAssets();
  const sessions = new SessionStore(deps.sessionIndex, deps.now);
  const { access } = deps;

  return {
    sessions,
    matches: (path) => path === '/ui' || path.startsWith('/ui/'),
    async handle(req, res, path, query, log) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      try {
        await dispatch(req, res, path, query);
      } catch (error) {
        sendFailure(req, res, error, log);
      }
    },
  };

  async function dispatch(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '/ui') return redirect(res, '/ui/');
    const asset = assets.byPath.get(path);
    if (asset) return sendAsset(req, res, asset);
    if (path.startsWith('/ui/assets/')) throw new AdminError('NOT_FOUND', 'no such asset');
    if (path === '/ui/login') return method === 'POST' ? login(req, res) : loginForm(req, res, query.get('next') ?? '/ui/', undefined);

    const session = await sessionOf(req, res);
    if (!session) {
      if (method === 'GET') return redirect(res, `/ui/login?next=${encodeURIComponent(path + (query.size > 0 ? `?${query}` : ''))}`);
      throw new AdminError('UNAUTHORIZED', 'your session has ended; log in again');
    }
    const caller: Caller = { principal: session.principal, operator: session.operator };
    const viewer: Viewer = {
      name: session.principal.kind === 'user' ? session.principal.name : undefined,
      administrator: await access.allows(caller, { kind: 'administrator' }),
      csrf: session.csrf,
      loggedIn: access.controlled,
    };
    const form = method === 'POST' ? await readForm(req, session) : undefined;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw new AdminError('UNSUPPORTED', `${method} is not supported in the web UI`, null, { Allow: 'GET, POST' });

    if (path === '/ui/logout' && form) {
      await sessions.end(session.id);
      setCookie(req, res, SESSION_COOKIE, '', 0);
      return redirect(res, '/ui/login');
    }
    if (path === '/ui/password') return form ? changePassword(req, res, session, viewer, form) : render(req, res, 200, 'Change password', viewer, pages.passwordPage(viewer, session.mustChangePassword, undefined));
    if (session.mustChangePassword) return redirect(res, '/ui/password');

    const require = (requirement: Requirement, repository?: RepositoryName) => access.require(caller, requirement, repository);
    if (path === '/ui/') {
      const state = listState(query, PAGE_SIZE);
      const found = await deps.browser.repositories((names) => access.visible(caller, names), { filter: state.q, sort: state.sort as RepositorySort, order: state.order as SortOrder, offset: state.offset, limit: state.limit });
      return render(req, res, 200, 'Repositories', viewer, pages.repositoriesPage(found, state));
    }
    if (path === '/ui/tree' || path.startsWith('/ui/tree/')) {
      const prefix = decodeURIComponent(path.slice('/ui/tree'.length).replace(/^\//, ''));
      if (prefix !== '' && !isRepositoryName(prefix)) throw new AdminError('INVALID_REQUEST', `invalid namespace "${printable(prefix)}"`);
      const level = await deps.tree.level((names) => access.visible(caller, names), prefix, { offset: listState(query, PAGE_SIZE).offset, limit: PAGE_SIZE });
      return render(req, res, 200, prefix === '' ? 'Namespaces' : prefix, viewer, adminPages.treePage(prefix, level));
    }
    if (path === '/ui/audit' || path === '/ui/audit/export') {
      await require({ kind: 'administrator' });
      const { filter, after } = auditFilterOf(query);
      if (path === '/ui/audit/export') return sendAuditExport(deps.audit, auditQueryOf(filter, after, AUDIT_PAGE_SIZE), req, res);
      const entries = await deps.audit.query(auditQueryOf(filter, after, AUDIT_PAGE_SIZE + 1));
      const shown = entries.slice(0, AUDIT_PAGE_SIZE);
      const next = entries.length > AUDIT_PAGE_SIZE ? `/ui/audit?${new URLSearchParams({ ...filter, after: String(shown.at(-1)!.id) })}` : undefined;
      return render(req, res, 200, 'Audit trail', viewer, adminPages.auditPage(filter, shown, next, `/ui/audit/export${auditExportQuery(filter)}`));
    }
    if (path.startsWith('/ui/repositories/')) return repositoryRoute(req, res, path.slice('/ui/repositories/'.length), query, viewer, caller, session, form);
    if (path === '/ui/gc') {
      await require({ kind: 'administrator' });
      if (!form) return render(req, res, 200, 'Garbage collection', viewer, pages.gcPage(viewer, deps.collections.status()));
      try {
        deps.collections.start({ dryRun: form.get('dryRun') === 'true', deleteUntagged: form.get('deleteUntagged') === 'true', graceMs: deps.graceMs });
      } catch (error) {
        if (error instanceof CollectionInProgressError) throw new AdminError('CONFLICT', 'a garbage collection is already running; watch it on this page');
        throw error;
      }
      return redirect(res, '/ui/gc');
    }
    if (path === '/ui/usage') {
      await require({ kind: 'administrator' });
      return render(req, res, 200, 'Usage', viewer, pages.usagePage(await deps.registry.metadata.listUsage()));
    }
    if (path === '/ui/users' || path.startsWith('/ui/users/') || path === '/ui/roles' || path.startsWith('/ui/roles/')) {
      await require({ kind: 'administrator' });
      const accounts = deps.accounts;
      if (!accounts) throw new AdminError('NOT_FOUND', 'this registry keeps no users or roles (auth.accounts is not configured)');
      return accountsRoute(req, res, path, query, viewer, accounts, form);
    }
    throw new AdminError('NOT_FOUND', `no such page: ${printable(path)}`);
  }

  async function repositoryRoute(req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams, viewer: Viewer, caller: Caller, session: Session, form: URLSearchParams | undefined): Promise<void> {
    // `/-/` cannot occur in a repository name (a path component cannot be "-"): it separates the name from the page.
    const [rawName, action = ''] = rest.split('/-/', 2) as [string, string | undefined];
    const name = decodeURIComponent(rawName);
    if (!isRepositoryName(name)) throw new AdminError('INVALID_REQUEST', `invalid repository name "${printable(name)}"`);
    const canDelete = await access.allows(caller, { kind: 'repository', action: 'delete' }, name);
    if (action === '') {
      await access.require(caller, { kind: 'repository', action: 'pull' }, name);
      const state = listState(query, 100);
      const found = await deps.browser.tags(name, { filter: state.q, sort: state.sort as RepositorySort, order: state.order as SortOrder, offset: state.offset, limit: state.limit });
      return render(req, res, 200, name, viewer, pages.tagsPage(viewer, name, found, state, canDelete));
    }
    if (action.startsWith('manifests/')) {
      await access.require(caller, { kind: 'repository', action: 'pull' }, name);
      const reference = referenceOf(decodeURIComponent(action.slice('manifests/'.length)));
      const details = await deps.inspector.inspect(name, reference);
      return render(req, res, 200, `${name} ${reference.tag ?? reference.digest}`, viewer, pages.manifestPage(details, pullCommands(req, name, reference, details.digest), canDelete));
    }
    if (action === 'delete') {
      await access.require(caller, { kind: 'repository', action: 'delete' }, name);
      const source = form ?? query;
      const tag = source.get('tag') ?? undefined;
      const digest = source.get('digest') ?? undefined;
      if (!form) return render(req, res, 200, 'Delete', viewer, pages.confirmDeletePage(viewer, name, { ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) }));
      if (tag !== undefined || digest !== undefined) {
        await deps.registry.repository(name, contextOf(req, res, session)).deleteManifest(referenceOf(tag ?? digest!));
        return redirect(res, pages.repositoryPath(name));
      }
      await deps.registry.deleteRepository(name, contextOf(req, res, session));
      return redirect(res, '/ui/');
    }
    if (action === 'settings' || action === 'settings/remove') return settingsRoute(req, res, name, action, query, viewer, caller, form);
    throw new AdminError('NOT_FOUND', `no such page for ${name}`);
  }

  async function settingsRoute(req: IncomingMessage, res: ServerResponse, name: RepositoryName, action: string, query: URLSearchParams, viewer: Viewer, caller: Caller, form: URLSearchParams | undefined): Promise<void> {
    await access.require(caller, { kind: 'repository', action: 'pull' }, name);
    const base = `${pages.repositoryPath(name)}/-/settings`;
    if (form) {
      await access.require(caller, { kind: 'administrator' });
      const origin = { address: req.socket.remoteAddress, requestId: requestIdOf(res) };
      if (action === 'settings/remove') {
        await deps.policies.clear(name, viewer.name ?? 'operator', origin);
        return redirect(res, `${base}?done=removed`);
      }
      try {
        await deps.policies.set(name, policyFromForm(form), viewer.name ?? 'operator', origin);
      } catch (error) {
        if (error instanceof ConfigError) throw new AdminError('INVALID_REQUEST', `the policy was not saved: ${error.message}`);
        throw error;
      }
      return redirect(res, `${base}?done=saved`);
    }
    if (action !== 'settings') throw new AdminError('NOT_FOUND', `no such page for ${name}`);
    const applied = deps.registry.policies.explain(name);
    const administered = deps.policies.get(name);
    const quota = quotaFor(applied?.policy);
    const firstSegment = name.split('/')[0];
    return render(req, res, 200, `${name} settings`, viewer, adminPages.settingsPage(viewer, {
      name, applied, administered,
      form: formOfPolicy(administered?.raw),
      usageBytes: await deps.registry.metadata.usage(name, quota ?? { limitBytes: 0 }),
      preview: await deps.registry.retention.preview(name),
      configured: deps.repositories.items.find((item) => item.name === firstSegment && name !== firstSegment),
      registryReadOnly: deps.registry.policy.readOnly,
      canAdminister: viewer.administrator,
      message: MESSAGES[query.get('done') ?? ''],
    }));
  }

  async function accountsRoute(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, viewer: Viewer, accounts: Accounts, form: URLSearchParams | undefined): Promise<void> {
    const message = MESSAGES[query.get('done') ?? ''];
    // The same actions the admin API records for the same changes (`describeAdminChange`).
    const changed = (action: string, target: string) =>
      deps.audit.record(viewer.name ?? 'operator', action, { address: req.socket.remoteAddress, requestId: requestIdOf(res) }, { target });
    const [section, rawName, action] = path.slice('/ui/'.length).split('/') as [string, string | undefined, string | undefined];
    const name = rawName === undefined ? undefined : decodeURIComponent(rawName);
    if (section === 'users') {
      if (!form) return render(req, res, 200, 'Users', viewer, pages.usersPage(viewer, await accounts.listUsers(), await accounts.listRoles(), message));
      if (name === undefined) {
        const newName = form.get('name') ?? '';
        if (await accounts.getUser(newName).then(() => true, () => false)) throw new AdminError('CONFLICT', `a user "${printable(newName)}" exists already; reset its password instead`);
        await accounts.putUser(newName, form.get('password') ?? '', form.getAll('roles'));
        changed('user.put', newName);
        return redirect(res, '/ui/users?done=created');
      }
      if (action === 'password') {
        await accounts.setPassword(name, form.get('password') ?? '');
        changed('user.password', name);
        if (name !== viewer.name) await sessions.endAllOf(name);
        return redirect(res, '/ui/users?done=reset');
      }
      if (action === 'roles') {
        await accounts.setRoles(name, form.getAll('roles'));
        changed('user.roles', name);
        return redirect(res, '/ui/users?done=saved');
      }
      if (action === 'delete') {
        await accounts.removeUser(name);
        changed('user.delete', name);
        await sessions.endAllOf(name);
        return redirect(res, '/ui/users?done=removed');
      }
    }
    if (section === 'roles') {
      if (!form) return render(req, res, 200, 'Roles', viewer, pages.rolesPage(viewer, await accounts.listRoles(), message));
      if (name === undefined) {
        const permissions = (form.get('permissions') ?? '').split('\n').map((line) => line.trim()).filter(Boolean).map(parsePermission);
        const created = await accounts.putRole(form.get('name') ?? '', form.get('description') ?? '', permissions);
        changed('role.put', form.get('name') ?? '');
        return redirect(res, `/ui/roles?done=${created ? 'created' : 'saved'}`);
      }
      if (action === 'delete') {
        await accounts.removeRole(name);
        changed('role.delete', name);
        return redirect(res, '/ui/roles?done=removed');
      }
    }
    throw new AdminError('NOT_FOUND', 'no such page');
  }

  /** The request's live session; on a registry without access control, loopback clients get an operator session. */
  async function sessionOf(req: IncomingMessage, res: ServerResponse): Promise<Session | undefined> {
    const existing = await sessions.get(cookiesOf(req).get(SESSION_COOKIE));
    if (existing) return existing;
    if (access.controlled) return undefined;
    if (!isLoopback(req.socket.remoteAddress)) throw new AdminError('DENIED', 'the web UI of a registry without access control answers loopback clients only');
    const session = await sessions.create({ kind: 'anonymous' }, { mustChangePassword: false, operator: true });
    setCookie(req, res, SESSION_COOKIE, session.id);
    return session;
  }

  function loginForm(req: IncomingMessage, res: ServerResponse, next: string, error: string | undefined, status = 200): void {
    if (!access.controlled) return redirect(res, '/ui/');
    // Login CSRF: the form's token must match a SameSite=Strict cookie set with it.
    const loginToken = token();
    setCookie(req, res, LOGIN_COOKIE, loginToken);
    render(req, res, status, 'Log in', undefined, pages.loginPage(error, loginToken, safeNext(next)));
  }

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readSmallBody(req, MAX_FORM, () => new AdminError('TOO_LARGE', 'the form is too large')));
    const sent = form.get('_login');
    if (!sent || sent !== cookiesOf(req).get(LOGIN_COOKIE)) return loginForm(req, res, form.get('next') ?? '/ui/', 'Your login form expired; please try again.', 403);
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (!deps.gate || username === '' || username.includes(':')) return loginForm(req, res, form.get('next') ?? '/ui/', 'Wrong user name or password.', 401);
    // The same authenticator chain as /v2 (htpasswd and database users, throttling), given Basic credentials.
    const result = await deps.gate.authenticate({ ...credentialsOf(req), authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` });
    if (result.outcome !== 'authenticated' || result.principal.kind !== 'user') {
      const throttled = result.outcome === 'rejected' && result.throttled;
      return loginForm(req, res, form.get('next') ?? '/ui/', throttled ? `Too many failed logins; try again in ${throttled.retryAfterSeconds} s.` : 'Wrong user name or password.', throttled ? 429 : 401);
    }
    const principal = result.principal;
    const mustChange = principal.source === 'database' && deps.accounts ? await deps.accounts.mustChangePassword(principal.name) : false;
    const session = await sessions.create(principal, { mustChangePassword: mustChange, operator: false });
    setCookie(req, res, SESSION_COOKIE, session.id);
    setCookie(req, res, LOGIN_COOKIE, '', 0);
    redirect(res, mustChange ? '/ui/password' : safeNext(form.get('next') ?? '/ui/'));
  }

  async function changePassword(req: IncomingMessage, res: ServerResponse, session: Session, viewer: Viewer, form: URLSearchParams): Promise<void> {
    const principal = session.principal;
    if (principal.kind !== 'user' || principal.source !== 'database' || !deps.accounts) throw new AdminError('UNSUPPORTED', 'only users kept by Berth change their password here (htpasswd users: in the htpasswd file)');
    const password = form.get('password') ?? '';
    if (password !== form.get('confirm')) return render(req, res, 400, 'Change password', viewer, pages.passwordPage(viewer, session.mustChangePassword, 'The two passwords differ.'));
    try {
      await deps.accounts.setPassword(principal.name, password);
    } catch (error) {
      const adminError = adminErrorOf(error);
      if (adminError?.code === 'INVALID_REQUEST') return render(req, res, 400, 'Change password', viewer, pages.passwordPage(viewer, session.mustChangePassword, adminError.message));
      throw error;
    }
    deps.audit.record(principal.name, 'user.password', { address: req.socket.remoteAddress, requestId: requestIdOf(res) }, { target: principal.name });
    // Other sessions of this user used the old password: they end; this one continues.
    await sessions.endAllOf(principal.name);
    const renewed = await sessions.create(principal, { mustChangePassword: false, operator: false });
    setCookie(req, res, SESSION_COOKIE, renewed.id);
    redirect(res, '/ui/');
  }

  async function readForm(req: IncomingMessage, session: Session): Promise<URLSearchParams> {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== originOf(req)) throw new AdminError('DENIED', 'cross-origin form submissions are refused');
    const form = new URLSearchParams(await readSmallBody(req, MAX_FORM, () => new AdminError('TOO_LARGE', 'the form is too large')));
    const sent = form.get('_csrf') ?? headerValue(req.headers['x-csrf-token']);
    if (!SessionStore.csrfMatches(session, sent)) throw new AdminError('DENIED', 'the form is stale or did not come from this site (CSRF token mismatch); reload the page and try again');
    return form;
  }

  function render(req: IncomingMessage, res: ServerResponse, status: number, title: string, viewer: Viewer | undefined, body: SafeHtml): void {
    const text = page(assets, title, viewer, body).value;
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  function sendFailure(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
    const adminError = adminErrorOf(error);
    if (!adminError) log.error({ err: error }, 'web UI request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (adminError?.code === 'UNAUTHORIZED') return redirect(res, '/ui/login');
    const code = adminError?.code ?? 'UNKNOWN';
    for (const [name, value] of Object.entries(adminError?.headers ?? {})) if (name !== 'WWW-Authenticate') res.setHeader(name, value);
    if (!req.complete) req.resume();
    render(req, res, ADMIN_ERROR_TABLE[code].status, 'Error', undefined, pages.errorPage(ADMIN_ERROR_TABLE[code].status, adminError?.message ?? ADMIN_ERROR_TABLE.UNKNOWN.message));
  }
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: UiAssets['styles']): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', asset.contentType);
  res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
  res.setHeader('Content-Length', asset.body.length);
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

function redirect(res: ServerResponse, location: string): void {
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.setHeader('Content-Length', 0);
  res.end();
}

/** Only a path on this UI: never an absolute URL someone slipped into the login link. */
function safeNext(next: string): string {
  return next.startsWith('/ui/') && !next.startsWith('//') ? next : '/ui/';
}

function setCookie(req: IncomingMessage, res: ServerResponse, name: string, value: string, maxAgeSeconds?: number): void {
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  const parts = [`${name}=${value}`, 'Path=/ui', 'HttpOnly', 'SameSite=Strict'];
  if (secure) parts.push('Secure');
  if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`);
  const existing = res.getHeader('Set-Cookie');
  res.setHeader('Set-Cookie', [...(Array.isArray(existing) ? existing : []), parts.join('; ')]);
}

function cookiesOf(req: IncomingMessage): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0) cookies.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim());
  }
  return cookies;
}

/** Who asks for a change made in the UI, for its audit entry and webhook event. */
function contextOf(req: IncomingMessage, res: ServerResponse, session: Session): RequestContext {
  return requestContextOf(req, requestIdOf(res) ?? '', session.principal.kind === 'user' ? session.principal.name : undefined);
}

function requestIdOf(res: ServerResponse): string | undefined {
  const id = res.getHeader('x-request-id');
  return id === undefined ? undefined : String(id);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function referenceOf(text: string): ManifestReference {
  if (isDigest(text)) return { digest: text as Digest };
  if (isTag(text)) return { tag: text as Tag };
  throw new AdminError('INVALID_REQUEST', `"${printable(text)}" is neither a tag nor a digest`);
}

function listState(query: URLSearchParams, limit: number): pages.ListState {
  const sort = query.get('sort');
  const offset = Number(query.get('offset') ?? '0');
  return {
    q: (query.get('q') ?? '').slice(0, 255),
    sort: sort === 'pushed' || sort === 'size' || sort === 'pulled' ? sort : 'name',
    order: query.get('order') === 'desc' ? 'desc' : 'asc',
    offset: Number.isSafeInteger(offset) && offset > 0 ? offset : 0,
    limit,
  };
}

/** Pull commands for the host the browser used; plain HTTP needs the clients' TLS switch. */
function pullCommands(req: IncomingMessage, name: string, reference: ManifestReference, digest: string): pages.PullCommand[] {
  const origin = originOf(req);
  const host = origin.replace(/^https?:\/\//, '');
  const insecure = origin.startsWith('http://');
  const image = `${host}/${name}${reference.tag !== undefined ? `:${reference.tag}` : `@${digest}`}`;
  const archive = `${name.split('/').at(-1)}.tar`;
  return [
    { client: 'docker', command: `docker pull ${image}` },
    { client: 'podman', command: `podman pull ${insecure ? '--tls-verify=false ' : ''}${image}` },
    { client: 'skopeo', command: `skopeo copy ${insecure ? '--src-tls-verify=false ' : ''}docker://${image} oci-archive:${archive}` },
  ];
}
