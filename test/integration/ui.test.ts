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
