import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditTrail } from '../core/audit.js';
import type { AuditQuery, StoredAuditRow } from '../metadata/store.js';
import { RegistryError } from '../oci/errors.js';
import type { OperationsRoute } from './operations-api.js';
import { sendJson } from './respond.js';

/**
 *   GET /api/v1/audit?user=&repository=&action=&since=&until=&after=&limit=   a page, oldest first
 *   GET /api/v1/audit/export?…same filters…                                  every match as JSON lines
 * `since`/`until` take an RFC 3339 time or epoch milliseconds; `after` is the last id seen.
 */
const PAGE = 100;
const MAX_PAGE = 1_000;

export function auditRoutes(audit: AuditTrail): OperationsRoute[] {
  return [
    {
      path: '/api/v1/audit',
      method: 'GET',
      async answer(req, res, query) {
        const filter = auditQuery(query);
        const entries = await audit.query({ ...filter, limit: filter.limit + 1 });
        const page = entries.slice(0, filter.limit);
        sendJson(req, res, 200, { entries: page.map(present), ...(entries.length > filter.limit ? { next: page.at(-1)!.id } : {}) });
      },
    },
    {
      path: '/api/v1/audit/export',
      method: 'GET',
      answer: (req, res, query) => sendAuditExport(audit, auditQuery(query), req, res),
    },
  ];
}

/** Every entry matching `query` as JSON lines (the admin API's export and the web UI's). */
export async function sendAuditExport(audit: AuditTrail, query: AuditQuery, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const filter = { ...query, limit: MAX_PAGE };
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
  res.setHeader('Content-Disposition', 'attachment; filename="berth-audit.jsonl"');
  if (req.method === 'HEAD') return void res.end();
  // Page by id so a large trail streams in bounded memory, with backpressure.
  for (let after = filter.after ?? 0; ;) {
    const entries = await audit.query({ ...filter, after });
    for (const entry of entries) {
      if (!res.write(`${JSON.stringify(present(entry))}\n`)) await new Promise((resolve) => res.once('drain', resolve));
    }
    if (entries.length < filter.limit || res.destroyed) break;
    after = entries.at(-1)!.id;
  }
  res.end();
}

function present(entry: StoredAuditRow): Record<string, unknown> {
  return {
    id: entry.id,
    time: new Date(entry.at).toISOString(),
    user: entry.actor,
    action: entry.action,
    ...(entry.repository !== undefined ? { repository: entry.repository } : {}),
    ...(entry.target !== undefined ? { target: entry.target } : {}),
    ...(entry.address !== undefined ? { address: entry.address } : {}),
    ...(entry.detail !== undefined ? { detail: JSON.parse(entry.detail) as unknown } : {}),
  };
}

function auditQuery(query: URLSearchParams): AuditQuery {
  const filter: AuditQuery = { limit: PAGE };
  const text = (name: string) => query.get(name) ?? undefined;
  const user = text('user');
  const repository = text('repository');
  const action = text('action');
  if (user !== undefined) filter.actor = user;
  if (repository !== undefined) filter.repository = repository;
  if (action !== undefined) filter.action = action;
  const since = time(query, 'since');
  const until = time(query, 'until');
  if (since !== undefined) filter.since = since;
  if (until !== undefined) filter.until = until;
  const after = query.get('after');
  if (after !== null) filter.after = whole(after, 'after', Number.MAX_SAFE_INTEGER);
  const limit = query.get('limit');
  if (limit !== null) filter.limit = whole(limit, 'limit', MAX_PAGE);
  return filter;
}

function time(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  const at = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(at)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `${name} must be an RFC 3339 time or epoch milliseconds`, { [name]: value });
  return at;
}

function whole(value: string, name: string, max: number): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number > max) throw new RegistryError('PAGINATION_NUMBER_INVALID', `${name} must be a whole number up to ${max}`, { [name]: value });
  return number;
}
