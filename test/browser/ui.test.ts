import assert from 'node:assert/strict';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startInProcess, type TestRegistry } from '../support/in-process.js';
import { ManualClock } from '../support/time.js';
import { AuthorizedClient, basic } from '../integration/auth-support.js';

/**
 * The web UI in Debian's Chromium (never a downloaded browser), the way a person who has never
 * used Berth would go: log in (and replace the generated password), find an image, copy its pull
 * command, delete a tag, create a user with a role, see what that user may not do, and run
 * garbage collection. Screenshots of the main pages go to test-artifacts/ui/ (gitignored).
 */
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/ui');
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESCRIPTION = 'org.opencontainers.image.description';
const NEW_ADMIN_PASSWORD = 'a-better-admin-password';

describe('the web UI in Chromium', () => {
  let registry: TestRegistry;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let admin: AuthorizedClient;
  let initialPassword: string;
  const clock = new ManualClock();
  const host = () => new URL(registry.url).host;
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    registry = await startInProcess({ auth: { accounts: {} } }, undefined, { clock: clock.now });
    initialPassword = (await readFile(join(registry.dataDir, 'storage', 'admin-password'), 'utf8')).trim();
    admin = new AuthorizedClient(registry.url, basic('admin', initialPassword));
    await admin.pushImage('team/app', 'v1', ['app layer one', 'app layer two']);
    await admin.pushImage('team/app', 'v2', ['app layer three']);
    await admin.pushImage('team/tools', 'latest', ['tools layer'], { annotations: { [DESCRIPTION]: 'Tools & <b>more</b>' } });
    await admin.pushImage('ops/monitor', '1.0', ['monitor layer']);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: LAUNCH_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: registry.url });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await registry?.destroy();
  });

  async function logIn(user: string, password: string): Promise<void> {
    await page.goto(`${registry.url}/ui/`);
    await page.getByLabel('User').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
  }

  it('when the administrator logs in with the generated password, then they must change it first, and the password file goes', async () => {
    await page.goto(`${registry.url}/ui/`);
    assert.match(page.url(), /\/ui\/login/);
    await shot('login');
    await logIn('admin', initialPassword);
    assert.match(page.url(), /\/ui\/password$/);
    await page.goto(`${registry.url}/ui/users`);
    assert.match(page.url(), /\/ui\/password$/, 'nothing else until the password is changed');
    await shot('change-password');
    await page.getByLabel('New password').fill(NEW_ADMIN_PASSWORD);
    await page.getByLabel('Repeat it').fill(NEW_ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('heading', { name: 'Repositories' }).waitFor();
    await assert.rejects(access(join(registry.dataDir, 'storage', 'admin-password')), 'the generated password file is removed');
    admin = new AuthorizedClient(registry.url, basic('admin', NEW_ADMIN_PASSWORD));
    const cookie = (await context.cookies()).find((entry) => entry.name === 'berth_session');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
    await shot('repositories');
  });

  it('when the administrator searches the list, then only matching repositories remain (htmx, no reload), and descriptions are text', async () => {
    await page.goto(`${registry.url}/ui/`);
    assert.ok(await page.getByText('Tools & <b>more</b>').isVisible(), 'the description is shown as text, not markup');
    await page.getByRole('searchbox', { name: 'Filter repositories' }).fill('tool');
    await page.waitForURL(/q=tool/);
    await page.locator('#results tbody tr').first().waitFor();
    assert.deepEqual(await page.locator('#results tbody td:first-child a').allTextContents(), ['team/tools']);
    await shot('search');
  });

  it('when the administrator browses to a tag, then its manifest page shows layers and config, and the pull command copies', async () => {
    await page.goto(`${registry.url}/ui/`);
    await page.getByRole('link', { name: 'team/app' }).click();
    await page.getByRole('heading', { name: 'team/app' }).waitFor();
    assert.deepEqual(await page.locator('#results tbody .platform').allTextContents(), ['linux/amd64', 'linux/amd64'], 'each tag\'s platform');
    await shot('tags');
    await page.getByRole('link', { name: 'v1', exact: true }).click();
    await page.getByRole('heading', { name: 'Layers' }).waitFor();
    assert.equal(await page.locator('h2:has-text("Layers") + div tbody tr').count(), 2);
    assert.ok(await page.getByText('linux/amd64').isVisible(), 'the config\'s platform');
    await shot('manifest');
    const copy = page.getByRole('button', { name: 'Copy the docker command' });
    await copy.click();
    await copy.filter({ hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), `docker pull ${host()}/team/app:v1`);
  });

  it('when the administrator deletes a tag with confirmation, then it is gone from /v2/…/tags/list', async () => {
    await page.goto(`${registry.url}/ui/repositories/team/app`);
    await page.getByRole('link', { name: 'Delete tag v2' }).click();
    await page.getByRole('heading', { name: 'Delete?' }).waitFor();
    await shot('confirm-delete');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: 'team/app' }).waitFor();
    assert.deepEqual(await page.locator('#results tbody td:first-child a').allTextContents(), ['v1']);
    const tags = (await (await admin.request('/v2/team/app/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
  });

  it('when the administrator opens the namespace tree, then it shows one level at a time with counts, and leads to a repository', async () => {
    await page.goto(`${registry.url}/ui/`);
    await page.getByRole('link', { name: 'Namespaces' }).click();
    await page.getByRole('link', { name: 'Open namespace team' }).click();
    await page.waitForURL(/\/ui\/tree\/team$/);
    assert.deepEqual(await page.locator('#tree tbody td:first-child a').allTextContents(), ['app', 'tools']);
    await shot('tree');
    await page.getByRole('link', { name: 'Repository team/app' }).click();
    await page.getByRole('heading', { name: 'team/app' }).waitFor();
  });

  it('when the administrator makes a repository read-only on its settings page, then the registry refuses a push, and the audit page filtered to deletes shows the tag deleted earlier', async () => {
    await page.goto(`${registry.url}/ui/repositories/ops/monitor`);
    await page.getByRole('link', { name: 'Settings & usage' }).click();
    await page.getByRole('heading', { name: 'ops/monitor: settings' }).waitFor();
    await page.getByRole('radio', { name: /^Read-only/ }).check();
    await page.getByLabel('Limit (empty: none)').fill('1MiB');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    assert.equal(await page.locator('#policy-in-force dt:has-text("Deployment") + dd').textContent(), 'read-only');
    await shot('repository-settings');
    const manifest = await (await admin.request('/v2/ops/monitor/manifests/1.0', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).text();
    const refused = await admin.putManifest('ops/monitor', '1.1', manifest, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(refused.status, 403, 'the registry refuses the push');

    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByLabel('Action').fill('tag.delete');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/action=tag.delete/);
    const rows = page.locator('#audit tbody tr');
    assert.equal(await rows.count(), 1);
    assert.deepEqual((await rows.first().locator('td').allTextContents()).slice(1, 5), ['admin', 'tag.delete', 'team/app', 'v2']);
    await shot('audit');
  });

  it('when the administrator creates a role and a user with it, then that user logs in and sees only what the role allows', async () => {
    await page.goto(`${registry.url}/ui/roles`);
    await page.getByLabel('Name').fill('readers');
    await page.locator('#new-role-permissions').fill('team/*=pull');
    await page.getByRole('button', { name: 'Create role' }).click();
    await page.getByRole('status').filter({ hasText: 'Created.' }).waitFor();
    await shot('roles');
    await page.goto(`${registry.url}/ui/users`);
    await page.getByLabel('Name').fill('viewer');
    await page.locator('#new-user-password').fill('viewer-password');
    await page.locator('form.stack').getByLabel('readers').check();
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'Created.' }).waitFor();
    await shot('users');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/ui\/login/);
    await logIn('viewer', 'viewer-password');
    await page.getByRole('heading', { name: 'Repositories' }).waitFor();
    assert.deepEqual(await page.locator('#results tbody td:first-child a').allTextContents(), ['team/app', 'team/tools']);
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0, 'no administration in the menu');
  });

  it('when a user without delete tries to delete a tag or run GC, then the UI refuses (403) and nothing changes', async () => {
    await page.goto(`${registry.url}/ui/repositories/team/app`);
    assert.equal(await page.getByRole('link', { name: /^Delete/ }).count(), 0, 'no delete buttons without delete');
    const refused = await page.goto(`${registry.url}/ui/repositories/team/app/-/delete?tag=v1`);
    assert.equal(refused?.status(), 403);
    assert.ok(await page.getByRole('heading', { name: 'Not allowed' }).isVisible());
    await shot('forbidden');
    assert.equal((await page.goto(`${registry.url}/ui/gc`))?.status(), 403);
    assert.equal((await page.goto(`${registry.url}/ui/repositories/ops/monitor`))?.status(), 403);
    assert.equal((await page.goto(`${registry.url}/ui/audit`))?.status(), 403, 'the audit trail is for administrators');
    await page.goto(`${registry.url}/ui/repositories/team/app/-/settings`);
    assert.equal(await page.getByRole('button', { name: 'Save policy' }).count(), 0, 'a reader sees the policy, not the form');
    // A forged POST without the session's CSRF token is refused even for an allowed user.
    const forged = await page.request.post(`${registry.url}/ui/logout`, { form: { _csrf: 'forged' } });
    assert.equal(forged.status(), 403);
    const tags = (await (await admin.request('/v2/team/app/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
  });

  it('when two idle hours pass, then the session has expired; the administrator logs in again, runs GC and sees the space the deleted tag gave back', async () => {
    await page.goto(`${registry.url}/ui/`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await logIn('admin', NEW_ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Repositories' }).waitFor();
    // Past the untagged manifest's grace period, and past the session's idle limit.
    clock.advance(2 * 60 * 60_000);
    await page.goto(`${registry.url}/ui/gc`);
    assert.match(page.url(), /\/ui\/login\?next=%2Fui%2Fgc/, 'the expired session leads to the login page');
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill(NEW_ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Garbage collection' }).waitFor();
    await page.getByLabel('Also delete untagged manifests').check();
    await page.getByRole('button', { name: 'Run garbage collection' }).click();
    await page.locator('#gc-report').waitFor();
    const freed = await page.locator('#gc-report dt:has-text("Freed") + dd').textContent();
    assert.match(freed ?? '', /^[1-9][\d.]* (B|KiB)$/, `freed: ${freed}`);
    await shot('gc');
    await page.goto(`${registry.url}/ui/usage`);
    assert.equal(await page.locator('svg.chart rect.bar').count(), 3, 'a bar per repository');
    await shot('usage');
  });

  it('when the screen is a phone or dark, then the pages still render (screenshots)', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${registry.url}/ui/repositories/team/app`);
    await shot('phone-tags');
    await page.goto(`${registry.url}/ui/repositories/team/app/-/manifests/v1`);
    await shot('phone-manifest');
    await page.goto(`${registry.url}/ui/repositories/ops/monitor/-/settings`);
    await shot('phone-settings');
    await page.goto(`${registry.url}/ui/audit`);
    await shot('phone-audit');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${registry.url}/ui/`);
    await shot('dark-repositories');
    await page.goto(`${registry.url}/ui/usage`);
    await shot('dark-usage');
    await page.goto(`${registry.url}/ui/tree`);
    await shot('dark-tree');
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    assert.equal(background, 'rgb(15, 20, 25)');
  });
});
