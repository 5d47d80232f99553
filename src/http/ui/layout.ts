import type { UiAssets } from './assets.js';
import { html, type HtmlValue, type SafeHtml } from './html.js';

/** What every page's frame needs: who is looking (for the menu) and the CSRF token for its forms. */
export interface Viewer {
  name: string | undefined;
  administrator: boolean;
  csrf: string;
  /** Logged in through a session (so there is a logout). */
  loggedIn: boolean;
}

export function page(assets: UiAssets, title: string, viewer: Viewer | undefined, body: HtmlValue): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}'>
<title>${title} · Berth</title>
<link rel="stylesheet" href="${assets.styles.path}">
<script src="${assets.htmx.path}" defer></script>
<script src="${assets.script.path}" defer></script>
</head>
<body>
<header>
<a class="brand" href="/ui/">Berth</a>
${viewer ? html`<nav>
<a href="/ui/">Repositories</a>
${viewer.administrator ? html`<a href="/ui/usage">Usage</a><a href="/ui/gc">Garbage collection</a><a href="/ui/users">Users</a><a href="/ui/roles">Roles &amp; access</a><a href="/ui/audit">Audit</a>` : ''}
</nav>
${viewer.loggedIn ? html`<span class="muted">${viewer.name}</span>
<form method="post" action="/ui/logout"><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit">Log out</button></form>` : ''}` : ''}
</header>
<main>
${body}
</main>
</body>
</html>`;
}

export function csrfField(viewer: Viewer): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;
}

export { formatBytes } from '../../core/text.js';

export function formatTime(at: number | undefined): string {
  if (at === undefined || at === 0) return '—';
  return new Date(at).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `${algorithm}:${(hex ?? '').slice(0, 12)}`;
}

/** A column heading that sorts by `key`, toggling the order when it already does. */
export function sortHeader(label: string, key: string, current: { sort: string; order: string }, link: (sort: string, order: string) => string, className = ''): SafeHtml {
  const active = current.sort === key;
  const next = active && current.order === 'asc' ? 'desc' : 'asc';
  const arrow = active ? (current.order === 'asc' ? ' ▲' : ' ▼') : '';
  return html`<th class="${className}" aria-sort="${active ? (current.order === 'asc' ? 'ascending' : 'descending') : 'none'}"><a href="${link(key, next)}">${label}${arrow}</a></th>`;
}

export function pager(total: number, offset: number, limit: number, link: (offset: number) => string): SafeHtml {
  if (total <= limit) return html`<p class="muted">${total} shown</p>`;
  const pageNumber = Math.floor(offset / limit) + 1;
  const pages = Math.ceil(total / limit);
  return html`<div class="pager">
${offset > 0 ? html`<a href="${link(Math.max(0, offset - limit))}" rel="prev">← Previous</a>` : ''}
<span class="muted">page ${pageNumber} of ${pages} (${total})</span>
${offset + limit < total ? html`<a href="${link(offset + limit)}" rel="next">Next →</a>` : ''}
</div>`;
}

/** The repositories page's two views: the filterable list and the namespace tree. */
export function viewTabs(current: 'list' | 'tree'): SafeHtml {
  return html`<nav class="tabs" aria-label="Views">${current === 'list' ? html`<span class="current">List</span>` : html`<a href="/ui/">List</a>`}
${current === 'tree' ? html`<span class="current">Namespaces</span>` : html`<a href="/ui/tree">Namespaces</a>`}</nav>`;
}
