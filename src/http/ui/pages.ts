import type { UserView } from '../../auth/accounts.js';
import type { Role } from '../../auth/access-store.js';
import type { ListedRepository, PageOf } from '../../core/browse.js';
import type { CollectionStatus } from '../../core/collection-runs.js';
import type { ImageDetails } from '../../core/image-details.js';
import type { RepositoryUsage, TagSummary } from '../../metadata/store.js';
import { barChart } from './charts.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, formatBytes, formatTime, pager, shortDigest, sortHeader, viewTabs, type Viewer } from './layout.js';

/** The page bodies. Each takes typed data and returns escaped markup; none reads a request. */
export interface ListState {
  q: string;
  sort: string;
  order: string;
  offset: number;
  limit: number;
}

function query(state: ListState, change: Partial<ListState>): string {
  const next = { ...state, ...change };
  const params = new URLSearchParams();
  if (next.q) params.set('q', next.q);
  if (next.sort !== 'name') params.set('sort', next.sort);
  if (next.order !== 'asc') params.set('order', next.order);
  if (next.offset > 0) params.set('offset', String(next.offset));
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function repositoryPath(name: string): string {
  return `/ui/repositories/${name}`;
}

export function loginPage(error: string | undefined, loginToken: string, next: string): SafeHtml {
  return html`<div class="card">
<h1>Log in to Berth</h1>
${error ? html`<p class="notice error" role="alert">${error}</p>` : ''}
<form method="post" action="/ui/login">
<input type="hidden" name="_login" value="${loginToken}">
<input type="hidden" name="next" value="${next}">
<label for="username">User</label><input id="username" name="username" type="text" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button class="primary" type="submit">Log in</button></p>
</form>
</div>`;
}

export function passwordPage(viewer: Viewer, forced: boolean, error: string | undefined): SafeHtml {
  return html`<div class="card">
<h1>Change your password</h1>
${forced ? html`<p class="notice">This is the password Berth generated at its first start. Choose your own before you continue; the generated password file is then removed.</p>` : ''}
${error ? html`<p class="notice error" role="alert">${error}</p>` : ''}
<form method="post" action="/ui/password">
${csrfField(viewer)}
<label for="new-password">New password (8 characters or more)</label><input id="new-password" name="password" type="password" autocomplete="new-password" required minlength="8">
<label for="confirm-password">Repeat it</label><input id="confirm-password" name="confirm" type="password" autocomplete="new-password" required minlength="8">
<p><button class="primary" type="submit">Change password</button></p>
</form>
</div>`;
}

export function repositoriesPage(found: PageOf<ListedRepository>, state: ListState): SafeHtml {
  const link = (sort: string, order: string) => `/ui/${query(state, { sort, order, offset: 0 })}`;
  const showKind = found.items.some((repository) => repository.kind !== 'hosted');
  return html`<h1>Repositories</h1>
${viewTabs('list')}
<form class="toolbar" method="get" action="/ui/" role="search">
<input type="search" name="q" value="${state.q}" placeholder="Filter by name or description" aria-label="Filter repositories"
  hx-get="/ui/" hx-trigger="input changed delay:250ms, search" hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true">
<input type="hidden" name="sort" value="${state.sort}"><input type="hidden" name="order" value="${state.order}">
<button type="submit">Search</button>
</form>
<div id="results">
${found.items.length === 0 ? html`<p class="muted">No repositories${state.q ? html` match “${state.q}”` : ''}.</p>` : html`<div class="scroll"><table>
<thead><tr>${sortHeader('Name', 'name', state, link)}${showKind ? html`<th>Kind</th>` : ''}<th class="num">Tags</th>${sortHeader('Size', 'size', state, link, 'num')}${sortHeader('Last push', 'pushed', state, link)}${sortHeader('Last pull', 'pulled', state, link, 'hide-narrow')}</tr></thead>
<tbody>
${found.items.map((repository) => html`<tr>
<td><a href="${repositoryPath(repository.name)}">${repository.name}</a>${repository.description ? html`<br><span class="muted">${repository.description}</span>` : ''}</td>
${showKind ? html`<td>${repository.kind}</td>` : ''}
<td class="num">${repository.tags}</td><td class="num">${formatBytes(repository.bytes)}</td><td>${formatTime(repository.pushedAt)}</td><td class="hide-narrow">${formatTime(repository.pulledAt)}</td>
</tr>`)}
</tbody></table></div>`}
${pager(found.total, found.offset, found.limit, (offset) => `/ui/${query(state, { offset })}`)}
</div>`;
}

export function tagsPage(viewer: Viewer, repository: string, found: PageOf<TagSummary>, state: ListState, canDelete: boolean): SafeHtml {
  const base = repositoryPath(repository);
  const link = (sort: string, order: string) => `${base}${query(state, { sort, order, offset: 0 })}`;
  return html`<h1>${repository}</h1>
<form class="toolbar" method="get" action="${base}" role="search">
<input type="search" name="q" value="${state.q}" placeholder="Filter tags" aria-label="Filter tags"
  hx-get="${base}" hx-trigger="input changed delay:250ms, search" hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true">
<button type="submit">Filter</button>
<a class="button" href="${base}/-/settings">Settings &amp; usage</a>
${canDelete ? html`<a class="button danger" href="${base}/-/delete">Delete repository…</a>` : ''}
</form>
<div id="results">
<div class="scroll"><table>
<thead><tr>${sortHeader('Tag', 'name', state, link)}<th>Digest</th><th>Platforms</th>${sortHeader('Size', 'size', state, link, 'num')}${sortHeader('Pushed', 'pushed', state, link)}${sortHeader('Last pulled', 'pulled', state, link, 'hide-narrow')}${canDelete ? html`<th></th>` : ''}</tr></thead>
<tbody>
${found.items.map((tag) => html`<tr>
<td><a href="${base}/-/manifests/${tag.tag}">${tag.tag}</a></td>
<td><a class="mono" href="${base}/-/manifests/${tag.digest}" title="${tag.digest}">${shortDigest(tag.digest)}</a><br><span class="muted">${mediaTypeName(tag.mediaType)}</span></td>
<td>${tag.platforms.length > 0 ? tag.platforms.map((platform) => html`<span class="platform">${platform}</span> `) : html`<span class="muted">—</span>`}</td>
<td class="num">${formatBytes(tag.bytes)}</td><td>${formatTime(tag.updatedAt)}</td><td class="hide-narrow">${formatTime(tag.lastPulledAt)}</td>
${canDelete ? html`<td><a class="button danger" href="${base}/-/delete?tag=${encodeURIComponent(tag.tag)}" aria-label="Delete tag ${tag.tag}">Delete…</a></td>` : ''}
</tr>`)}
</tbody></table></div>
${pager(found.total, found.offset, found.limit, (offset) => `${base}${query(state, { offset })}`)}
</div>
${csrfField(viewer)}`;
}

export interface PullCommand {
  client: string;
  command: string;
}

export function manifestPage(details: ImageDetails, pulls: PullCommand[], canDelete: boolean): SafeHtml {
  const base = repositoryPath(details.repository);
  const config = details.config;
  return html`<p><a href="${base}">← ${details.repository}</a></p>
<h1>${details.repository}${details.tags.length > 0 ? html`:${details.tags.join(', ')}` : html`@${shortDigest(details.digest)}`}</h1>
<dl class="facts">
<dt>Digest</dt><dd><code>${details.digest}</code></dd>
<dt>Media type</dt><dd><code>${details.mediaType}</code></dd>
<dt>Manifest size</dt><dd>${formatBytes(details.size)}</dd>
${config?.platform ? html`<dt>Platform</dt><dd>${config.platform}</dd>` : ''}
${config?.created ? html`<dt>Created</dt><dd>${config.created}</dd>` : ''}
${details.layers.length > 0 ? html`<dt>Layers</dt><dd>${details.layers.length}, ${formatBytes(details.layers.reduce((sum, layer) => sum + layer.size, 0))}</dd>` : ''}
</dl>
<h2>Pull</h2>
${pulls.map((pull) => html`<div class="pull"><span>${pull.client}</span><code>${pull.command}</code><button type="button" data-copy="${pull.command}" aria-label="Copy the ${pull.client} command">Copy</button></div>`)}
${details.children.length > 0 ? html`<h2>Platforms (index)</h2><div class="scroll"><table><thead><tr><th>Platform</th><th>Digest</th><th class="num">Size</th></tr></thead><tbody>
${details.children.map((child) => html`<tr><td>${child.platform ?? '—'}</td><td><a class="mono" href="${base}/-/manifests/${child.digest}">${child.digest}</a></td><td class="num">${formatBytes(child.size)}</td></tr>`)}
</tbody></table></div>` : ''}
${details.layers.length > 0 ? html`<h2>Layers</h2><div class="scroll"><table><thead><tr><th>#</th><th>Digest</th><th class="hide-narrow">Media type</th><th class="num">Size</th></tr></thead><tbody>
${details.layers.map((layer, index) => html`<tr><td>${index + 1}</td><td class="mono">${layer.digest}</td><td class="hide-narrow mono">${layer.mediaType}</td><td class="num">${formatBytes(layer.size)}</td></tr>`)}
</tbody></table></div>` : ''}
${config ? html`<h2>Config</h2>
<dl class="facts">
<dt>Digest</dt><dd><code>${config.descriptor.digest}</code></dd>
${config.entrypoint.length > 0 ? html`<dt>Entrypoint</dt><dd><code>${JSON.stringify(config.entrypoint)}</code></dd>` : ''}
${config.cmd.length > 0 ? html`<dt>Command</dt><dd><code>${JSON.stringify(config.cmd)}</code></dd>` : ''}
${config.workingDir ? html`<dt>Working directory</dt><dd><code>${config.workingDir}</code></dd>` : ''}
${config.user ? html`<dt>User</dt><dd><code>${config.user}</code></dd>` : ''}
${config.env.length > 0 ? html`<dt>Environment</dt><dd>${config.env.map((entry) => html`<code>${entry}</code><br>`)}</dd>` : ''}
</dl>
${keyValues('Labels', config.labels)}
${config.history.length > 0 ? html`<h2>History</h2><div class="scroll"><table><thead><tr><th>Created</th><th>Command</th></tr></thead><tbody>
${config.history.map((entry) => html`<tr><td>${entry.created ?? '—'}</td><td class="mono">${entry.createdBy ?? ''}${entry.emptyLayer ? html` <span class="muted">(no layer)</span>` : ''}</td></tr>`)}
</tbody></table></div>` : ''}` : ''}
${keyValues('Annotations', details.annotations)}
<h2>Referrers</h2>
${details.referrers.length === 0 ? html`<p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>` : html`<div class="scroll"><table><thead><tr><th>Artifact type</th><th>Digest</th><th class="num">Size</th></tr></thead><tbody>
${details.referrers.map((referrer) => html`<tr><td>${referrer.artifactType ?? referrer.mediaType}</td><td><a class="mono" href="${base}/-/manifests/${referrer.digest}">${referrer.digest}</a></td><td class="num">${formatBytes(referrer.size)}</td></tr>`)}
</tbody></table></div>`}
${canDelete ? html`<h2>Delete</h2><p><a class="button danger" href="${base}/-/delete?digest=${encodeURIComponent(details.digest)}">Delete this manifest and its tags…</a></p>` : ''}`;
}

function keyValues(title: string, values: Record<string, string>): SafeHtml {
  const entries = Object.entries(values);
  if (entries.length === 0) return html``;
  return html`<h2>${title}</h2><dl class="facts">${entries.map(([key, value]) => html`<dt class="mono">${key}</dt><dd>${value}</dd>`)}</dl>`;
}

export function confirmDeletePage(viewer: Viewer, repository: string, target: { tag?: string; digest?: string }): SafeHtml {
  const what = target.tag !== undefined ? html`the tag <code>${repository}:${target.tag}</code>` : target.digest !== undefined
    ? html`the manifest <code>${target.digest}</code> and every tag pointing at it`
    : html`the whole repository <code>${repository}</code>: every tag and manifest in it`;
  return html`<div class="card">
<h1>Delete?</h1>
<p>This deletes ${what}. Garbage collection then frees the space nothing else uses.</p>
<form method="post" action="${repositoryPath(repository)}/-/delete">
${csrfField(viewer)}
${target.tag !== undefined ? html`<input type="hidden" name="tag" value="${target.tag}">` : ''}
${target.digest !== undefined ? html`<input type="hidden" name="digest" value="${target.digest}">` : ''}
<p><button class="danger" type="submit">Delete</button> <a href="${repositoryPath(repository)}">Cancel</a></p>
</form>
</div>`;
}

export function gcPage(viewer: Viewer, status: CollectionStatus): SafeHtml {
  return html`<h1>Garbage collection</h1>
<p>Frees storage that no tag, manifest or repository uses any more. It runs online: pushes and pulls continue.</p>
<form class="toolbar" method="post" action="/ui/gc">
${csrfField(viewer)}
<label><input type="checkbox" name="dryRun" value="true"> Dry run (report only)</label>
<label><input type="checkbox" name="deleteUntagged" value="true"> Also delete untagged manifests</label>
<button class="primary" type="submit" ${status.running ? html`disabled` : ''}>Run garbage collection</button>
</form>
${gcStatus(status)}`;
}

/** The part that refreshes itself (htmx) while a collection runs; without script, the Refresh link does. */
export function gcStatus(status: CollectionStatus): SafeHtml {
  const report = status.lastReport;
  if (status.running) {
    const progress = status.progress;
    return html`<div id="gc-status" hx-get="/ui/gc" hx-trigger="load delay:1s" hx-select="#gc-status" hx-target="#gc-status" hx-swap="outerHTML">
<p class="notice" role="status">Collecting… ${progress ? html`phase <strong>${progress.phase}</strong>${progress.total !== undefined ? html`, ${progress.checked ?? 0} of ${progress.total} blobs checked` : ''}, ${formatBytes(progress.bytesFreed)} freed so far` : 'starting'}.
<a href="/ui/gc">Refresh</a></p>
</div>`;
  }
  return html`<div id="gc-status">
${status.error ? html`<p class="notice error" role="alert">${status.error}</p>` : ''}
${report ? html`<h2>Last run${report.dryRun ? ' (dry run)' : ''}</h2>
<dl class="facts" id="gc-report">
<dt>Started</dt><dd>${formatTime(report.startedAt)}</dd>
<dt>Took</dt><dd>${Math.round(report.durationMs)} ms</dd>
<dt>${report.dryRun ? 'Would free' : 'Freed'}</dt><dd><strong>${formatBytes(report.bytesFreed)}</strong></dd>
<dt>Removed</dt><dd>${report.removed.blobs} blobs, ${report.removed.manifests} manifests, ${report.removed.links} links, ${report.removed.orphans} orphaned files, ${report.removed.repositories} empty repositories</dd>
<dt>Stored now</dt><dd>${report.kept.stored.count} objects, ${formatBytes(report.kept.stored.bytes)}</dd>
<dt>Kept for pushes in progress</dt><dd>${report.kept.protectedLinks.count} links (${formatBytes(report.kept.protectedLinks.bytes)}), ${report.kept.uploads.count} uploads</dd>
<dt>Untagged manifests</dt><dd>${report.kept.untaggedManifests.count} (${formatBytes(report.kept.untaggedManifests.bytes)})</dd>
</dl>` : html`<p class="muted">No collection has run since the server started.</p>`}
</div>`;
}

const CHART_ROWS = 20;

export function usagePage(rows: RepositoryUsage[]): SafeHtml {
  const sorted = [...rows].sort((a, b) => b.bytes - a.bytes);
  const largest = Math.max(1, ...sorted.map((row) => row.bytes));
  const total = sorted.reduce((sum, row) => sum + row.bytes, 0);
  return html`<h1>Usage</h1>
<p>${sorted.length} repositories, ${formatBytes(total)} counted per repository (a blob shared by two counts in each).</p>
${sorted.length > 0 ? barChart(`The ${Math.min(CHART_ROWS, sorted.length)} largest repositories`, sorted.slice(0, CHART_ROWS).map((row) => ({ label: row.repository, value: row.bytes, text: formatBytes(row.bytes), href: `${repositoryPath(row.repository)}/-/settings` }))) : ''}
<div class="scroll"><table>
<thead><tr><th>Repository</th><th class="num">Size</th><th class="hide-narrow">Share</th><th class="num">Tags</th><th class="num hide-narrow">Manifests</th><th class="num hide-narrow">Blobs</th></tr></thead>
<tbody>
${sorted.map((row) => html`<tr><td><a href="${repositoryPath(row.repository)}">${row.repository}</a></td><td class="num">${formatBytes(row.bytes)}</td>
<td class="hide-narrow"><meter min="0" max="${largest}" value="${row.bytes}" aria-label="share of the largest">${formatBytes(row.bytes)}</meter></td>
<td class="num">${row.tags}</td><td class="num hide-narrow">${row.manifests}</td><td class="num hide-narrow">${row.blobs}</td></tr>`)}
</tbody></table></div>`;
}

export function usersPage(viewer: Viewer, users: UserView[], roles: Role[], message: string | undefined): SafeHtml {
  const assignable = roles.filter((role) => role.name !== 'anonymous');
  return html`<h1>Users</h1>
${message ? html`<p class="notice" role="status">${message}</p>` : ''}
<div class="scroll"><table>
<thead><tr><th>User</th><th>Roles</th><th>Reset password</th><th></th></tr></thead>
<tbody>
${users.map((user) => html`<tr>
<td>${user.name}</td>
<td><form class="toolbar" method="post" action="/ui/users/${user.name}/roles">${csrfField(viewer)}
${assignable.map((role) => html`<label><input type="checkbox" name="roles" value="${role.name}" ${user.roles.includes(role.name) ? html`checked` : ''}> ${role.name}</label>`)}
<button type="submit">Save roles</button></form></td>
<td><form class="toolbar" method="post" action="/ui/users/${user.name}/password">${csrfField(viewer)}
<input type="password" name="password" autocomplete="new-password" minlength="8" required aria-label="New password for ${user.name}"><button type="submit">Reset</button></form></td>
<td><form method="post" action="/ui/users/${user.name}/delete">${csrfField(viewer)}<button class="danger" type="submit">Remove</button></form></td>
</tr>`)}
</tbody></table></div>
<h2>New user</h2>
<form class="stack" method="post" action="/ui/users">
${csrfField(viewer)}
<label for="new-user">Name</label><input id="new-user" name="name" type="text" required pattern="[A-Za-z0-9][A-Za-z0-9._@-]{0,127}">
<label for="new-user-password">Password</label><input id="new-user-password" name="password" type="password" autocomplete="new-password" minlength="8" required>
<p>${assignable.map((role) => html`<label><input type="checkbox" name="roles" value="${role.name}"> ${role.name}</label> `)}</p>
<p><button class="primary" type="submit">Create user</button></p>
</form>`;
}

export function rolesPage(viewer: Viewer, roles: Role[], message: string | undefined): SafeHtml {
  const lines = (role: Role) => role.permissions.map((permission) => `${permission.pattern}=${permission.actions.join(',')}`).join('\n');
  return html`<h1>Roles &amp; anonymous access</h1>
${message ? html`<p class="notice" role="status">${message}</p>` : ''}
<p>A permission is <code>pattern=actions</code>, one per line: <code>team-a/*=pull,push</code>, <code>*=pull</code>. Actions: pull, push, delete, admin.
The <strong>anonymous</strong> role is what clients without credentials may pull.</p>
${roles.map((role) => html`<h2>${role.name}</h2>
<form class="stack" method="post" action="/ui/roles">
${csrfField(viewer)}
<input type="hidden" name="name" value="${role.name}">
<label>Description <input type="text" name="description" value="${role.description}" ${role.name === 'admin' ? html`disabled` : ''}></label>
<label>Permissions<textarea name="permissions" ${role.name === 'admin' ? html`disabled` : ''} aria-label="Permissions of ${role.name}">${lines(role)}</textarea></label>
${role.name === 'admin' ? html`<p class="muted">Built in: everything.</p>` : html`<p><button type="submit">Save ${role.name}</button></p>`}
</form>
${role.name !== 'admin' && role.name !== 'anonymous' ? html`<form method="post" action="/ui/roles/${role.name}/delete">${csrfField(viewer)}<button class="danger" type="submit">Remove ${role.name}</button></form>` : ''}`)}
<h2>New role</h2>
<form class="stack" method="post" action="/ui/roles">
${csrfField(viewer)}
<label for="new-role">Name</label><input id="new-role" name="name" type="text" required pattern="[a-z0-9][a-z0-9._-]{0,63}">
<label for="new-role-description">Description</label><input id="new-role-description" name="description" type="text">
<label for="new-role-permissions">Permissions</label><textarea id="new-role-permissions" name="permissions" required></textarea>
<p><button class="primary" type="submit">Create role</button></p>
</form>`;
}

export function errorPage(status: number, message: string): SafeHtml {
  return html`<div class="card"><h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1>
<p class="notice error" role="alert">${message}</p><p><a href="/ui/">Back to the repositories</a></p></div>`;
}

function mediaTypeName(mediaType: string): string {
  if (mediaType.includes('index') || mediaType.includes('list')) return 'multi-platform index';
  if (mediaType.startsWith('application/vnd.docker')) return 'Docker image';
  if (mediaType.startsWith('application/vnd.oci.image.manifest')) return 'OCI image';
  return mediaType;
}
