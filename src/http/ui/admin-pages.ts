import type { RepositoryPolicy } from '../../config/config.js';
import type { RepositoryConfig } from '../../config/repositories.js';
import type { PageOf } from '../../core/browse.js';
import { ancestors, type NamespaceNode } from '../../core/namespaces.js';
import type { AdministeredPolicy } from '../../core/policy-admin.js';
import type { RetentionDecision } from '../../core/retention.js';
import type { StoredAuditRow } from '../../metadata/store.js';
import { barChart } from './charts.js';
import type { AuditFilter } from './forms.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, formatBytes, formatTime, pager, shortDigest, viewTabs, type Viewer } from './layout.js';
import { repositoryPath } from './pages.js';

/** The namespace tree, repository settings and audit trail pages. Typed data in, escaped markup out. */

export function treePath(prefix: string): string {
  return prefix === '' ? '/ui/tree' : `/ui/tree/${prefix}`;
}

export function treePage(prefix: string, level: PageOf<NamespaceNode>): SafeHtml {
  return html`<h1>${prefix === '' ? 'Repositories' : html`${prefix}/`}</h1>
${viewTabs('tree')}
<nav class="crumbs" aria-label="Namespace"><a href="/ui/tree">All</a>${ancestors(prefix).map((crumb) => html` / <a href="${treePath(crumb.path)}">${crumb.segment}</a>`)}</nav>
<div id="tree">
${level.items.length === 0 ? html`<p class="muted">Nothing here that you may pull.</p>` : html`<div class="scroll"><table>
<thead><tr><th>Namespace or repository</th><th class="num">Repositories</th><th class="num">Tags</th><th class="hide-narrow">Last push</th></tr></thead>
<tbody>
${level.items.map((node) => html`<tr>
<td>${node.repositories > (node.repository ? 1 : 0) ? html`<a href="${treePath(node.path)}" aria-label="Open namespace ${node.path}">${node.segment}/</a>` : ''}
${node.repository ? html`${node.repositories > 1 ? ' · ' : ''}<a href="${repositoryPath(node.path)}" aria-label="Repository ${node.path}">${node.segment}</a>` : ''}</td>
<td class="num">${node.repositories}</td><td class="num">${node.tags}</td><td class="hide-narrow">${formatTime(node.pushedAt)}</td>
</tr>`)}
</tbody></table></div>`}
${pager(level.total, level.offset, level.limit, (offset) => `${treePath(prefix)}?offset=${offset}`)}
</div>`;
}

export interface RepositorySettings {
  name: string;
  applied: { policy: RepositoryPolicy; source: 'administered' | 'configuration' } | undefined;
  administered: AdministeredPolicy | undefined;
  form: Record<string, string>;
  /** Bytes counted against the quota (the pattern's total for a pattern quota). */
  usageBytes: number;
  preview: RetentionDecision[];
  /** The configured hosted, proxy or group repository this name lies in, if any. */
  configured: RepositoryConfig | undefined;
  registryReadOnly: boolean;
  canAdminister: boolean;
  message: string | undefined;
}

const DEPLOYMENTS: [string, string][] = [
  ['allow-redeploy', 'Allow redeploy: a tag may be pushed again'],
  ['disable-redeploy', 'Disable redeploy: a tag, once pushed, never moves'],
  ['read-only', 'Read-only: pushes and deletes are refused'],
];

export function settingsPage(viewer: Viewer, settings: RepositorySettings): SafeHtml {
  const base = repositoryPath(settings.name);
  const policy = settings.applied?.policy;
  const quota = policy?.quota;
  const field = (name: string) => settings.form[name] ?? '';
  return html`<h1>${settings.name}: settings</h1>
<nav class="tabs" aria-label="Repository"><a href="${base}">Tags</a><span class="current">Settings</span></nav>
${settings.message ? html`<p class="notice" role="status">${settings.message}</p>` : ''}
${settings.registryReadOnly ? html`<p class="notice error">The whole registry is in read-only mode (storage.maintenance.readonly).</p>` : ''}
<h2>Policy in force</h2>
<dl class="facts" id="policy-in-force">
<dt>Deployment</dt><dd>${policy?.deployment ?? 'allow-redeploy'}</dd>
<dt>Quota</dt><dd>${quota ? html`${formatBytes(quota.limitBytes)}${quota.scope === 'pattern' ? html` for all of <code>${policy!.match}</code>` : ''}` : 'none'}</dd>
<dt>Retention</dt><dd>${policy?.retention ? retentionText(policy) : 'none'}</dd>
<dt>From</dt><dd>${settings.applied === undefined ? 'no policy matches (the defaults apply)'
    : settings.applied.source === 'administered' ? html`this page (<code>${policy!.match}</code>)${settings.administered ? html`, changed by ${settings.administered.updatedBy} at ${formatTime(settings.administered.updatedAt)}` : ''}`
    : html`the configuration's <code>policies:</code> entry <code>${policy!.match}</code>`}</dd>
</dl>
<h2>Usage</h2>
${barChart(quota ? 'Usage against the quota' : 'Usage', [{
    label: quota?.scope === 'pattern' ? policy!.match : settings.name, value: settings.usageBytes,
    text: quota ? `${formatBytes(settings.usageBytes)} of ${formatBytes(quota.limitBytes)}` : formatBytes(settings.usageBytes),
    over: quota !== undefined && settings.usageBytes > quota.limitBytes,
  }], quota ? Math.max(quota.limitBytes, settings.usageBytes, 1) : Math.max(settings.usageBytes, 1))}
<h2>Retention preview</h2>
${policy?.retention === undefined ? html`<p class="muted">No retention rule applies.</p>` : settings.preview.length === 0
    ? html`<p class="muted" id="retention-preview">A retention run now would remove nothing here.</p>`
    : html`<p>A retention run now would remove these tags (dry run; nothing has changed):</p><div class="scroll"><table id="retention-preview">
<thead><tr><th>Tag</th><th>Digest</th><th>Why</th></tr></thead><tbody>
${settings.preview.map((decision) => html`<tr><td>${decision.tag}</td><td class="mono" title="${decision.digest}">${shortDigest(decision.digest)}</td><td>${decision.reason}</td></tr>`)}
</tbody></table></div>`}
${configuredSection(settings.configured)}
${settings.canAdminister ? policyForm(viewer, base, settings, field) : html`<p class="muted">Only administrators change policies.</p>`}`;
}

function policyForm(viewer: Viewer, base: string, settings: RepositorySettings, field: (name: string) => string): SafeHtml {
  return html`<h2>This repository's own policy</h2>
<p>Applies to <code>${settings.name}</code> before any <code>policies:</code> entry of the configuration; kept in the database.</p>
<form class="stack" method="post" action="${base}/-/settings">
${csrfField(viewer)}
<fieldset><legend>Deployment</legend>
${DEPLOYMENTS.map(([value, label]) => html`<label><input type="radio" name="deployment" value="${value}" ${field('deployment') === value ? html`checked` : ''}> ${label}</label>`)}
</fieldset>
<fieldset><legend>Quota</legend>
<label for="quota">Limit (empty: none), e.g. 10GiB</label><input id="quota" name="quota" type="text" value="${field('quota')}">
</fieldset>
<fieldset><legend>Retention</legend>
<label for="keep">Keep the newest N tags</label><input id="keep" name="keep" type="number" min="0" value="${field('keep')}">
<label for="olderthan">Remove tags pushed longer ago than, e.g. 720h</label><input id="olderthan" name="olderthan" type="text" value="${field('olderthan')}">
<label for="notpulledfor">… and not pulled for, e.g. 168h</label><input id="notpulledfor" name="notpulledfor" type="text" value="${field('notpulledfor')}">
<label for="include">Only tags matching (regular expression)</label><input id="include" name="include" type="text" value="${field('include')}">
<label for="exclude">Never tags matching</label><input id="exclude" name="exclude" type="text" value="${field('exclude')}">
</fieldset>
<p><button class="primary" type="submit">Save policy</button></p>
</form>
${settings.administered ? html`<form method="post" action="${base}/-/settings/remove">${csrfField(viewer)}<button class="danger" type="submit">Remove this repository's own policy</button></form>` : ''}`;
}

function retentionText(policy: RepositoryPolicy): string {
  const rule = policy.retention!;
  const parts: string[] = [];
  if (rule.keep !== undefined) parts.push(`keep the newest ${rule.keep}`);
  if (rule.olderThanMs !== undefined) parts.push(`remove tags older than ${hours(rule.olderThanMs)}`);
  if (rule.notPulledForMs !== undefined) parts.push(`not pulled for ${hours(rule.notPulledForMs)}`);
  if (rule.include) parts.push(`tags matching /${rule.include.source}/`);
  if (rule.exclude) parts.push(`never /${rule.exclude.source}/`);
  return parts.join(', ');
}

function hours(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${Math.round(ms / 3_600_000)}h`;
}

/** Proxy and group settings come from the configuration: shown, never edited here (no credentials shown). */
function configuredSection(configured: RepositoryConfig | undefined): SafeHtml {
  if (!configured) return html``;
  const facts = configured.kind === 'proxy'
    ? html`<dt>Upstream</dt><dd><code>${configured.upstream.url}</code>${configured.upstream.username ? html` as ${configured.upstream.username}` : ''}</dd>
<dt>Revalidate tags</dt><dd>every ${hours(configured.revalidateMs)}</dd><dt>Serve stale on upstream errors</dt><dd>for ${hours(configured.staleIfErrorMs)}</dd>
<dt>Cache budget</dt><dd>${configured.maxSizeBytes === undefined ? 'unlimited' : formatBytes(configured.maxSizeBytes)}</dd>`
    : configured.kind === 'group'
      ? html`<dt>Members</dt><dd>${configured.members.join(', ')}</dd><dt>Pushes go to</dt><dd>${configured.writableMember ?? 'nowhere (pushes are refused)'}</dd>`
      : html``;
  return html`<h2>Repository <code>${configured.name}</code> (${configured.kind})</h2>
<p class="muted">From the configuration's <code>repositories:</code> section; change it there.</p>
<dl class="facts" id="configured-repository"><dt>Kind</dt><dd>${configured.kind}</dd>${facts}</dl>`;
}

export function auditPage(filter: AuditFilter, entries: StoredAuditRow[], next: string | undefined, exportLink: string): SafeHtml {
  return html`<h1>Audit trail</h1>
<form class="grid" method="get" action="/ui/audit" role="search">
<label>User <input type="text" name="user" value="${filter.user}"></label>
<label>Repository <input type="text" name="repository" value="${filter.repository}"></label>
<label>Action <input type="text" name="action" value="${filter.action}" list="audit-actions" placeholder="e.g. tag.delete"></label>
<label>From (UTC) <input type="datetime-local" name="since" value="${filter.since}"></label>
<label>Until (UTC) <input type="datetime-local" name="until" value="${filter.until}"></label>
<span><button type="submit">Filter</button> <a href="/ui/audit">Clear</a></span>
<datalist id="audit-actions">${AUDIT_ACTIONS.map((action) => html`<option value="${action}"></option>`)}</datalist>
</form>
<p><a href="${exportLink}" download>Export these entries as JSON lines</a></p>
${entries.length === 0 ? html`<p class="muted">No entries match.</p>` : html`<div class="scroll"><table id="audit">
<thead><tr><th>Time (UTC)</th><th>User</th><th>Action</th><th>Repository</th><th>Target</th><th class="hide-narrow">From</th><th class="hide-narrow">Detail</th></tr></thead>
<tbody>
${entries.map((entry) => html`<tr><td>${formatTime(entry.at)}</td><td>${entry.actor}</td><td><code>${entry.action}</code></td>
<td>${entry.repository ?? ''}</td><td class="mono">${entry.target ?? ''}</td><td class="hide-narrow mono">${entry.address ?? ''}</td><td class="hide-narrow mono">${entry.detail ?? ''}</td></tr>`)}
</tbody></table></div>`}
${next ? html`<div class="pager"><a href="${next}" rel="next">Next (later entries) →</a></div>` : ''}`;
}

/** Suggestions for the action filter: what Berth records (core/audit.ts, core/notifications/events.ts). */
const AUDIT_ACTIONS = [
  'image.push', 'tag.delete', 'manifest.delete', 'blob.delete', 'repository.delete', 'auth.login', 'auth.failure', 'auth.throttled', 'token.issue',
  'user.put', 'user.password', 'user.roles', 'user.delete', 'role.put', 'role.delete', 'policy.put', 'policy.remove', 'gc.run', 'retention.run', 'config.reload',
];
