import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AccessGate } from '../auth/gate.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { RepositorySearch, SEARCH_DEFAULT_PAGE_SIZE, SEARCH_MAX_PAGE_SIZE, type VisibleFilter } from '../core/search.js';
import { RegistryError } from '../oci/errors.js';
import { credentialsOf, originOf, type Endpoint } from './access.js';
import { sendError, sendJson } from './respond.js';

/**
 * Docker's v1 search, which `docker search` and `podman search` still call:
 *
 *   GET /v1/_ping                          200, standalone (no Docker Hub index behind it)
 *   GET /v1/search?q=&n=&page=             {query, num_results, num_pages, page, page_size, results:[…]}
 *
 * Anonymous callers see what anonymous may pull (never a 401: podman would fall back to the
 * catalog, docker would print an error); callers with credentials see what they may pull. Errors
 * use the `/v2` envelope.
 */
export function searchApi(search: RepositorySearch, gate: AccessGate | undefined): Endpoint {
  return {
    matches: (path) => path === '/v1/_ping' || path === '/v1/search',
    async handle(req, res, path, query, log: Logger) {
      try {
        res.setHeader('Cache-Control', 'no-store');
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.setHeader('Allow', 'GET, HEAD');
          throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on ${path}`);
        }
        if (path === '/v1/_ping') {
          // The daemon reads this header: a standalone registry has no separate index to ask for tokens.
          res.setHeader('X-Docker-Registry-Standalone', 'true');
          return sendJson(req, res, 200, { standalone: true });
        }
        const visible = await visibleTo(req);
        const found = await search.search({ term: query.get('q') ?? '', pageSize: pageSize(query), page: pageNumber(query) }, visible);
        sendJson(req, res, 200, {
          query: found.term,
          num_results: found.total,
          num_pages: found.pages,
          page: found.page,
          page_size: found.pageSize,
          results: found.results.map((result) => ({
            name: result.name,
            description: result.description,
            star_count: 0,
            is_official: false,
            is_automated: false,
          })),
        });
      } catch (error) {
        sendError(req, res, error, log);
      }
    },
  };

  async function visibleTo(req: IncomingMessage): Promise<VisibleFilter> {
    if (!gate) return async (names) => names;
    const result = await gate.authenticate(credentialsOf(req));
    if (result.outcome === 'rejected') throw gate.rejection(result, [], originOf(req), /^bearer(?: |$)/i.test(req.headers.authorization ?? ''));
    const principal: Principal = result.outcome === 'authenticated' ? result.principal : ANONYMOUS;
    return async (names) => (await gate.pullable(principal, names)) as typeof names;
  }
}

/** `n`: 1 to 100, default 25; a value that is not a whole number is ignored, as for `/v2` paging. */
function pageSize(query: URLSearchParams): number {
  const n = query.get('n');
  if (n === null || !/^\+?\d+$/.test(n)) return SEARCH_DEFAULT_PAGE_SIZE;
  const requested = Number(n);
  if (requested < 1 || requested > SEARCH_MAX_PAGE_SIZE) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid number of results requested: n must be from 1 to ${SEARCH_MAX_PAGE_SIZE}`, { n: requested });
  }
  return requested;
}

function pageNumber(query: URLSearchParams): number {
  const page = query.get('page');
  if (page === null || !/^\+?\d+$/.test(page) || Number(page) < 1) return 1;
  return Math.min(Number(page), Number.MAX_SAFE_INTEGER);
}
