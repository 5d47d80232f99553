import type { BrowseIndex } from '../metadata/store.js';
import type { RepositoryName } from '../oci/names.js';
import { page, type Paging, type PageOf } from './browse.js';
import type { VisibleFilter } from './search.js';

/**
 * Repositories as a namespace tree, one level at a time: the path segments under a prefix,
 * each with how many repositories (the caller may pull) lie beneath it. Only the requested
 * level is built and only a page of it is returned, so 10,000 repositories never become
 * 10,000 nodes.
 */
export interface NamespaceNode {
  /** The full path: `team/app`. */
  path: string;
  /** The last segment: `app`. */
  segment: string;
  /** A repository is stored at exactly this path. */
  repository: boolean;
  /** Repositories at or below this path. */
  repositories: number;
  tags: number;
  /** The newest push at or below this path. */
  pushedAt?: number;
}

export class NamespaceTree {
  constructor(private readonly index: BrowseIndex) {}

  /** The nodes directly under `prefix` (`''` is the root), sorted by segment. */
  async level(visible: VisibleFilter, prefix: string, paging: Paging): Promise<PageOf<NamespaceNode>> {
    const start = prefix === '' ? '' : `${prefix}/`;
    // The name filter matches anywhere in a name; the tree wants what starts with the prefix.
    const below = (await this.index.orderedRepositories({ sort: 'name', order: 'asc', filter: start })).filter((name) => name.startsWith(start));
    const nodes = new Map<string, NamespaceNode>();
    for (const summary of await this.index.repositorySummaries(await visible(below))) {
      const rest = summary.name.slice(start.length);
      const slash = rest.indexOf('/');
      const segment = slash === -1 ? rest : rest.slice(0, slash);
      const node = nodes.get(segment) ?? { path: `${start}${segment}`, segment, repository: false, repositories: 0, tags: 0 };
      node.repositories += 1;
      node.tags += summary.tags;
      if (slash === -1) node.repository = true;
      if (summary.pushedAt !== undefined && (node.pushedAt === undefined || summary.pushedAt > node.pushedAt)) node.pushedAt = summary.pushedAt;
      nodes.set(segment, node);
    }
    return page([...nodes.values()].sort((a, b) => (a.segment < b.segment ? -1 : a.segment > b.segment ? 1 : 0)), paging);
  }
}

/** `team/app/x` → ['team', 'team/app', 'team/app/x']: the breadcrumbs of a level. */
export function ancestors(prefix: string): { segment: string; path: RepositoryName }[] {
  if (prefix === '') return [];
  const segments = prefix.split('/');
  return segments.map((segment, index) => ({ segment, path: segments.slice(0, index + 1).join('/') as RepositoryName }));
}
