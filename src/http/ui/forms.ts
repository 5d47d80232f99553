import type { AuditQuery } from '../../metadata/store.js';
import { AdminError } from '../admin-errors.js';

/**
 * What the new admin pages read from a form or a query string, as plain data for core: a
 * repository policy in the configuration's own shape (core checks it with the configuration's
 * schema) and the audit page's filter.
 */
export function policyFromForm(form: URLSearchParams): Record<string, unknown> {
  const text = (name: string) => (form.get(name) ?? '').trim();
  const raw: Record<string, unknown> = { deployment: text('deployment') || 'allow-redeploy' };
  if (text('quota') !== '') raw.quota = { limit: text('quota') };
  const retention: Record<string, unknown> = {};
  // A number where the schema wants one; anything else goes through as text for the schema to refuse by name.
  if (text('keep') !== '') retention.keep = /^\d+$/.test(text('keep')) ? Number(text('keep')) : text('keep');
  for (const key of ['olderthan', 'notpulledfor', 'include', 'exclude']) if (text(key) !== '') retention[key] = text(key);
  if (Object.keys(retention).length > 0) raw.retention = retention;
  return raw;
}

/** The form's fields for a stored policy (the inverse of `policyFromForm`). */
export function formOfPolicy(raw: Record<string, unknown> | undefined): Record<string, string> {
  const quota = (raw?.quota ?? {}) as Record<string, unknown>;
  const retention = (raw?.retention ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (value === undefined ? '' : String(value));
  return {
    deployment: text(raw?.deployment ?? 'allow-redeploy'),
    quota: text(quota.limit),
    keep: text(retention.keep), olderthan: text(retention.olderthan), notpulledfor: text(retention.notpulledfor), include: text(retention.include), exclude: text(retention.exclude),
  };
}

export const AUDIT_PAGE_SIZE = 50;

export interface AuditFilter {
  user: string;
  repository: string;
  action: string;
  /** As the form sends them: `2024-05-01T10:00` (UTC). */
  since: string;
  until: string;
}

export function auditFilterOf(query: URLSearchParams): { filter: AuditFilter; after: number } {
  const text = (name: string) => (query.get(name) ?? '').trim().slice(0, 255);
  const after = Number(query.get('after') ?? '0');
  return {
    filter: { user: text('user'), repository: text('repository'), action: text('action'), since: text('since'), until: text('until') },
    after: Number.isSafeInteger(after) && after > 0 ? after : 0,
  };
}

export function auditQueryOf(filter: AuditFilter, after: number, limit: number): AuditQuery {
  const query: AuditQuery = { limit, after };
  if (filter.user !== '') query.actor = filter.user;
  if (filter.repository !== '') query.repository = filter.repository;
  if (filter.action !== '') query.action = filter.action;
  if (filter.since !== '') query.since = utc(filter.since, 'from');
  if (filter.until !== '') query.until = utc(filter.until, 'until');
  return query;
}

/** The export's query string for the same filter (the API takes RFC 3339 times). */
export function auditExportQuery(filter: AuditFilter): string {
  const params = new URLSearchParams();
  if (filter.user !== '') params.set('user', filter.user);
  if (filter.repository !== '') params.set('repository', filter.repository);
  if (filter.action !== '') params.set('action', filter.action);
  if (filter.since !== '') params.set('since', new Date(utc(filter.since, 'from')).toISOString());
  if (filter.until !== '') params.set('until', new Date(utc(filter.until, 'until')).toISOString());
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A `datetime-local` value read as UTC (the page shows every time in UTC). */
function utc(value: string, name: string): number {
  const at = Date.parse(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value) ? `${value}Z` : value);
  if (!Number.isFinite(at)) throw new AdminError('INVALID_REQUEST', `"${name}" must be a date and time such as 2024-05-01T10:00`);
  return at;
}
