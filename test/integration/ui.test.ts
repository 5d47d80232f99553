import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { CLI } from '../support/server.js';
import { AuthorizedClient, basic, htpasswdEntry } from './auth-support.js';

/** The web UI's HTTP contract: headers, assets, login, sessions and CSRF (the flows are in test/browser). */
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

async function get(base: string, path: string, cookie?: string): Promise<Response> {
  return fetch(new URL(path, base), { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

function cookieOf(response: Response, name: string): string | undefined {
  const line = response.headers.getSetCookie().find((entry) => entry.startsWith(`${name}=`));
  return line?.split(';')[0];
}

/** Logs in through the form, as a browser would; returns the session cookie. */
async function logIn(base: string, user: string, password: string): Promise<{ response: Response; session?: string }> {
  const form = await get(base, '/ui/login');
  const loginCookie = cookieOf(form, 'berth_login')!;
  const token = /name="_login" value="([^"]+)"/.exec(await form.text())![1]!;
  const response = await fetch(new URL('/ui/login', base), {
    method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: loginCookie },
    body: new URLSearchParams({ _login: token, username: user, password, next: '/ui/' }),
  });
  return { response, session: cookieOf(response, 'berth_session') };
}

describe('the web UI over HTTP, with htpasswd users', () => {
  let registry: TestRegistry;
  before(async () => {
    const seed = await startInProcess();
    await seed.close();
    const path = join(seed.dataDir, 'htpasswd');
    await writeFile(path, `${htpasswdEntry('operator', 'correct horse', CLI)}\n`);
    registry = await startInProcess({ auth: { htpasswd: { realm: 'berth', path } } }, seed.dataDir);
    await new AuthorizedClient(registry.url, basic('operator', 'correct horse')).pushImage('web/app', 'v1');
  });
  after(() => registry.destroy());

  it('when a page is served, then it carries a strict CSP and no inline script or style, and its assets are fingerprinted and immutable', async () => {
    const response = await get(registry.url, '/ui/login');
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    const page = await response.text();
    assert.doesNotMatch(page, /<script>|<style|\sstyle="|\son[a-z]+="/i, 'no inline code');
    const assets = [...page.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((match) => match[1]!);
    assert.equal(assets.length, 3);
    for (const asset of assets) {
      assert.match(asset, /\.[0-9a-f]{16}\.(css|js)$/);
      const served = await get(registry.url, asset);
      assert.equal(served.status, 200, asset);
      assert.equal(served.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    }
    assert.equal((await get(registry.url, '/ui/assets/ui.0000000000000000.css')).status, 404);
  });

  it('when nobody is logged in, then pages redirect to the login form; wrong passwords get no session', async () => {
    const page = await get(registry.url, '/ui/repositories/web/app');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/ui/login?next=%2Fui%2Frepositories%2Fweb%2Fapp');
    const wrong = await logIn(registry.url, 'operator', 'wrong horse');
    assert.equal(wrong.response.status, 401);
    assert.equal(wrong.session, undefined);
  });

  it('when the login form is posted without its own token (login CSRF), then it is refused', async () => {
    const response = await fetch(new URL('/ui/login', registry.url), {
      method: 'POST', redirect: 'manual', headers: FORM, body: new URLSearchParams({ username: 'operator', password: 'correct horse' }),
    });
    assert.equal(response.status, 403);
    assert.equal(cookieOf(response, 'berth_session'), undefined);
  });

  it('when an htpasswd user logs in, then the session cookie is HttpOnly and SameSite=Strict and pages render', async () => {
    const { response, session } = await logIn(registry.url, 'operator', 'correct horse');
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/ui/');
    const line = response.headers.getSetCookie().find((entry) => entry.startsWith('berth_session='))!;
    assert.match(line, /; HttpOnly/);
    assert.match(line, /; SameSite=Strict/);
    const list = await get(registry.url, '/ui/', session);
    assert.equal(list.status, 200);
    assert.match(await list.text(), /web\/app/);
    assert.equal((await get(registry.url, '/ui/repositories/web/app/-/manifests/v1', session)).status, 200);
  });

  it('when a state-changing request lacks the session\'s CSRF token or comes from another origin, then it is refused and nothing changes', async () => {
    const { session } = await logIn(registry.url, 'operator', 'correct horse');
    const page = await (await get(registry.url, '/ui/repositories/web/app', session)).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(new URL('/ui/repositories/web/app/-/delete', registry.url), { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: session!, ...headers }, body: new URLSearchParams(body) });
    assert.equal((await post({ tag: 'v1' })).status, 403, 'no token');
    assert.equal((await post({ tag: 'v1', _csrf: 'x'.repeat(csrf.length) })).status, 403, 'wrong token');
    assert.equal((await post({ tag: 'v1', _csrf: csrf }, { Origin: 'http://evil.example' })).status, 403, 'another origin');
    assert.equal((await get(registry.url, '/ui/repositories/web/app/-/manifests/v1', session)).status, 200, 'the tag is still there');
    const done = await post({ tag: 'v1', _csrf: csrf }, { Origin: new URL(registry.url).origin });
    assert.equal(done.status, 303);
    assert.equal((await get(registry.url, '/ui/repositories/web/app/-/manifests/v1', session)).status, 404);
  });

  it('when a manifest is deleted by digest and then the repository, then /v2 no longer has them', async () => {
    const pusher = new AuthorizedClient(registry.url, basic('operator', 'correct horse'));
    const { digest } = await pusher.pushImage('web/gone', 'v1', ['gone one']);
    await pusher.pushImage('web/gone', 'v2', ['gone two']);
    const { session } = await logIn(registry.url, 'operator', 'correct horse');
    const confirm = await get(registry.url, `/ui/repositories/web/gone/-/delete?digest=${digest}`, session);
    assert.equal(confirm.status, 200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await confirm.text())![1]!;
    const post = (body: Record<string, string>) =>
      fetch(new URL('/ui/repositories/web/gone/-/delete', registry.url), { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: session! }, body: new URLSearchParams({ _csrf: csrf, ...body }) });
    assert.equal((await post({ digest })).status, 303);
    assert.equal((await pusher.request(`/v2/web/gone/manifests/${digest}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(((await (await pusher.request('/v2/web/gone/tags/list')).json()) as { tags: string[] }).tags, ['v2']);
    const whole = await post({});
    assert.equal(whole.status, 303);
    assert.equal(whole.headers.get('location'), '/ui/');
    assert.equal((await pusher.request('/v2/web/gone/tags/list')).status, 404);
  });

  it('when the user logs out, then the session no longer opens pages', async () => {
    const { session } = await logIn(registry.url, 'operator', 'correct horse');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await get(registry.url, '/ui/', session)).text())![1]!;
    const out = await fetch(new URL('/ui/logout', registry.url), { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: session! }, body: new URLSearchParams({ _csrf: csrf }) });
    assert.equal(out.status, 303);
    assert.equal((await get(registry.url, '/ui/', session)).status, 303);
  });
});

describe('the web UI of a registry without access control', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startInProcess();
  });
  after(() => registry.destroy());

  it('when a loopback client opens it, then it is the operator: no login, administration included', async () => {
    const first = await get(registry.url, '/ui/gc');
    assert.equal(first.status, 200);
    assert.match(await first.text(), /Run garbage collection/);
    assert.ok(cookieOf(first, 'berth_session'), 'a session, so forms carry a CSRF token');
  });

  it('when a collection is started in the UI, then it runs in the background, the page shows its progress and refreshes itself, and a second start is refused', async () => {
    const pusher = new AuthorizedClient(registry.url, undefined);
    const { digest } = await pusher.pushImage('gc/app', 'v1', ['gc layer']);
    assert.equal((await pusher.request(`/v2/gc/app/manifests/${digest}`, { method: 'DELETE' })).status, 202);
    const first = await get(registry.url, '/ui/gc');
    const session = cookieOf(first, 'berth_session')!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await first.text())![1]!;
    const start = () => fetch(new URL('/ui/gc', registry.url), { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: session }, body: new URLSearchParams({ _csrf: csrf }) });

    // The collection stops at the deleted manifest's lock (its blob phase) until the test lets go.
    let release!: () => void;
    const held = registry.app.registry.locks.run(digest, () => new Promise<void>((resolve) => (release = resolve)));
    assert.equal((await start()).status, 303);
    const during = await (await get(registry.url, '/ui/gc', session)).text();
    assert.match(during, /Collecting…/);
    assert.match(during, /hx-trigger="load delay:1s"/, 'the status refreshes itself');
    assert.match(during, /type="submit" disabled/);
    assert.equal((await start()).status, 409);
    release();
    await held;
    await registry.app.collections.settled();
    const after = await (await get(registry.url, '/ui/gc', session)).text();
    assert.doesNotMatch(after, /Collecting…/);
    assert.match(after, /id="gc-report"/);
    assert.equal((await pusher.request(`/v2/gc/app/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  });
});

describe('the web UI with accounts', () => {
  it('when the first-start administrator logs in, then every page leads to the password change until it is done', async () => {
    const registry = await startInProcess({ auth: { accounts: {} } });
    try {
      const password = (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
      const { response, session } = await logIn(registry.url, 'admin', password);
      assert.equal(response.headers.get('location'), '/ui/password');
      for (const path of ['/ui/', '/ui/users', '/ui/gc']) assert.equal((await get(registry.url, path, session)).headers.get('location'), '/ui/password', path);
    } finally {
      await registry.destroy();
    }
  });
});

describe('the web UI\'s administration pages (tree, repository settings, audit trail)', () => {
  let registry: TestRegistry;
  let boss: AuthorizedClient;
  let bossSession: string;
  let readerSession: string;
  const csrfOf = async (path: string, session: string) => /name="_csrf" value="([^"]+)"/.exec(await (await get(registry.url, path, session)).text())![1]!;
  const post = (path: string, session: string, body: Record<string, string>) =>
    fetch(new URL(path, registry.url), { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: session }, body: new URLSearchParams(body) });

  before(async () => {
    registry = await startInProcess({ auth: { accounts: {} } });
    const admin = new AuthorizedClient(registry.url, basic('admin', (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim()));
    const call = (path: string, body: unknown) => admin.request(path, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await call('/api/v1/roles/readers', { permissions: [{ pattern: 'team/*', actions: ['pull'] }] })).status, 201);
    assert.equal((await call('/api/v1/users/reader', { password: 'reader-password', roles: ['readers'] })).status, 201);
    assert.equal((await call('/api/v1/users/boss', { password: 'boss-password', roles: ['admin'] })).status, 201);
    boss = new AuthorizedClient(registry.url, basic('boss', 'boss-password'));
    await boss.pushImage('team/app', 'v1', ['app']);
    await boss.pushImage('team/web/front', 'v1', ['front']);
    await boss.pushImage('ops/secret', 'v1', ['secret']);
    bossSession = (await logIn(registry.url, 'boss', 'boss-password')).session!;
    readerSession = (await logIn(registry.url, 'reader', 'reader-password')).session!;
  });
  after(() => registry.destroy());

  it('when the tree is opened, then it shows one level with counts, only of what the user may pull', async () => {
    const root = await (await get(registry.url, '/ui/tree', readerSession)).text();
    assert.match(root, /aria-label="Open namespace team">team\/<\/a>/);
    assert.doesNotMatch(root, /ops/, 'a namespace with nothing the reader may pull is not shown');
    const team = await (await get(registry.url, '/ui/tree/team', readerSession)).text();
    assert.match(team, /aria-label="Repository team\/app"/);
    assert.match(team, /aria-label="Open namespace team\/web"/);
    assert.match(await (await get(registry.url, '/ui/tree', bossSession)).text(), /Open namespace ops/);
    assert.equal((await get(registry.url, '/ui/tree/..%2Fx', readerSession)).status, 400);
  });

  it('when people log in to the UI, fail to, and change users there, then the audit trail records each under their name, never a password', async () => {
    assert.equal((await logIn(registry.url, 'reader', 'not-the-password')).session, undefined);
    const csrf = await csrfOf('/ui/users', bossSession);
    assert.equal((await post('/ui/users', bossSession, { _csrf: csrf, name: 'newcomer', password: 'newcomer-password', roles: 'readers' })).status, 303);
    assert.equal((await post('/ui/users/newcomer/delete', bossSession, { _csrf: csrf })).status, 303);
    const entries = async (query: string) => {
      const exported = await (await get(registry.url, `/ui/audit/export?${query}`, bossSession)).text();
      assert.ok(!exported.includes('not-the-password') && !exported.includes('newcomer-password'));
      return exported.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { user: string; action: string; target?: string });
    };
    // Entries are appended after the answer; poll until they land.
    const deadline = Date.now() + 10_000;
    while ((await entries('action=user.delete')).length === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual((await entries('action=auth.failure&user=reader')).map((entry) => entry.user), ['reader']);
    assert.ok((await entries('action=auth.login&user=boss')).length >= 1, 'the UI login of boss');
    assert.deepEqual((await entries('action=user.put&user=boss')).map((entry) => entry.target), ['newcomer']);
    assert.deepEqual((await entries('action=user.delete&user=boss')).map((entry) => entry.target), ['newcomer']);
  });

  it('when a non-administrator opens the audit trail or changes a policy, then it is refused (403) and nothing changes', async () => {
    assert.equal((await get(registry.url, '/ui/audit', readerSession)).status, 403);
    assert.equal((await get(registry.url, '/ui/audit/export', readerSession)).status, 403);
    const settings = await get(registry.url, '/ui/repositories/team/app/-/settings', readerSession);
    assert.equal(settings.status, 200, 'pull shows the policy in force');
    const page = await settings.text();
    assert.doesNotMatch(page, /Save policy/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    assert.equal((await post('/ui/repositories/team/app/-/settings', readerSession, { _csrf: csrf, deployment: 'read-only' })).status, 403);
    assert.equal((await get(registry.url, '/ui/repositories/ops/secret/-/settings', readerSession)).status, 403, 'no pull, no settings');
    assert.equal(registry.app.registry.policies.for('team/app' as never), undefined);
  });

  it('when an administrator saves a read-only policy, then only with the CSRF token; the registry refuses pushes, the audit page shows the change, and removing it allows pushes again', async () => {
    const path = '/ui/repositories/team/app/-/settings';
    assert.equal((await post(path, bossSession, { deployment: 'read-only' })).status, 403, 'no CSRF token');
    assert.equal(registry.app.registry.policies.for('team/app' as never), undefined);
    const csrf = await csrfOf(path, bossSession);
    const saved = await post(path, bossSession, { _csrf: csrf, deployment: 'read-only', quota: '1GiB' });
    assert.equal(saved.status, 303);
    const manifest = await (await boss.request('/v2/team/app/manifests/v1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).text();
    const refused = await boss.putManifest('team/app', 'v3', manifest, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /read-only/);
    const page = await (await get(registry.url, `${path}?done=saved`, bossSession)).text();
    assert.match(page, /<dt>Deployment<\/dt><dd>read-only<\/dd>/);
    assert.match(page, /changed by boss/);
    const audit = await (await get(registry.url, '/ui/audit?action=policy.put&repository=team%2Fapp', bossSession)).text();
    assert.match(audit, /<td>boss<\/td><td><code>policy.put<\/code><\/td>/);
    const exported = await get(registry.url, '/ui/audit/export?action=policy.put', bossSession);
    assert.equal(exported.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
    assert.deepEqual((await exported.text()).trim().split('\n').map((line) => (JSON.parse(line) as { user: string }).user), ['boss']);

    assert.equal((await post(`${path}/remove`, bossSession, { _csrf: csrf })).status, 303);
    assert.equal((await boss.putManifest('team/app', 'v3', manifest, 'application/vnd.oci.image.manifest.v1+json')).status, 201);
  });

  it('when a policy the configuration\'s schema refuses is posted, then it is a 400 naming the field and nothing is stored', async () => {
    const path = '/ui/repositories/team/web/front/-/settings';
    const csrf = await csrfOf(path, bossSession);
    const refused = await post(path, bossSession, { _csrf: csrf, deployment: 'allow-redeploy', quota: 'lots' });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /quota\.limit/);
    assert.equal(registry.app.registry.policies.for('team/web/front' as never), undefined);
  });

  it('when a retention rule is saved, then the settings page previews what a run would remove, and nothing is removed', async () => {
    await boss.pushImage('team/web/front', 'v2', ['front two']);
    const path = '/ui/repositories/team/web/front/-/settings';
    const csrf = await csrfOf(path, bossSession);
    assert.equal((await post(path, bossSession, { _csrf: csrf, deployment: 'allow-redeploy', keep: '1' })).status, 303);
    const page = await (await get(registry.url, path, bossSession)).text();
    assert.match(page, /id="retention-preview"[\s\S]*<td>v1<\/td>[\s\S]*not among the newest 1/);
    assert.equal((await boss.request('/v2/team/web/front/manifests/v1', { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);
  });
});
