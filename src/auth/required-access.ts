import type { Route } from '../oci/routes.js';
import { CATALOG_ACCESS, repositoryAccess, type ResourceAccess } from './access.js';

/**
 * What a `/v2` request needs, per (method, route). Writes need `pull` as well as `push`, as
 * registry:2 asks of tokens. `optional` is access the request can do without: a cross-repo
 * mount that may not read `from` becomes an ordinary upload instead of failing.
 */
export interface RequiredAccess {
  required: ResourceAccess[];
  optional: ResourceAccess[];
}

const READ = new Set(['GET', 'HEAD']);

export function requiredAccess(method: string, route: Route, query: URLSearchParams): RequiredAccess {
  switch (route.kind) {
    case 'base':
      return { required: [], optional: [] };
    case 'catalog':
      return { required: [CATALOG_ACCESS], optional: [] };
    case 'tags':
    case 'referrers':
      return { required: [repositoryAccess(route.name, 'pull')], optional: [] };
    case 'blob':
    case 'manifest':
      if (READ.has(method)) return { required: [repositoryAccess(route.name, 'pull')], optional: [] };
      if (method === 'DELETE') return { required: [repositoryAccess(route.name, 'delete')], optional: [] };
      return { required: [repositoryAccess(route.name, 'pull', 'push')], optional: [] };
    case 'upload-start': {
      const from = query.get('from');
      const mount = query.get('mount') !== null && from !== null && from !== route.name;
      return {
        required: [repositoryAccess(route.name, 'pull', 'push')],
        optional: mount ? [repositoryAccess(from, 'pull')] : [],
      };
    }
    case 'upload':
      return { required: [repositoryAccess(route.name, 'pull', 'push')], optional: [] };
  }
}
