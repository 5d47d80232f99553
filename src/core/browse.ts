import type { BrowseIndex, RepositorySort, RepositorySummary, SortOrder, TagSummary } from '../metadata/store.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName } from '../oci/names.js';
import type { VisibleFilter } from './search.js';

export type { RepositorySort, SortOrder };
export type TagSort = 'name' | 'pushed' | 'size' | 'pulled';

export interface Paging {
  offset: number;
  limit: number;
}

export interface ListedRepository extends RepositorySummary {
  /** How the registry serves it. Hosted today; proxy and group repositories will say so here. */
  kind: 'hosted';
}

export interface PageOf<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

export const BROWSE_MAX_LIMIT = 500;

/**
 * What the admin API and the web UI list: repositories (filtered to what the caller may pull,
 * then paged; the database sorts them by the statistics it keeps per repository, so a page
 * costs the names in order plus the rows shown) and a repository's tags.
 */
export class RepositoryBrowser {
  constructor(private readonly index: BrowseIndex) {}

  async repositories(visible: VisibleFilter, options: { filter?: string; sort: RepositorySort; order: SortOrder } & Paging): Promise<PageOf<ListedRepository>> {
    const filter = options.filter?.trim().toLowerCase() ?? '';
    const ordered = await this.index.orderedRepositories({ sort: options.sort, order: options.order, filter });
    // The filter depends on the caller's patterns: the database cannot page before it.
    const allowed = new Set(await visible(ordered));
    const shown = ordered.filter((name) => allowed.has(name));
    const summaries = await this.index.repositorySummaries(shown.slice(options.offset, options.offset + options.limit));
    return { total: shown.length, offset: options.offset, limit: options.limit, items: summaries.map((summary) => ({ ...summary, kind: 'hosted' as const })) };
  }

  async tags(repository: RepositoryName, options: { filter?: string; sort: TagSort; order: SortOrder } & Paging): Promise<PageOf<TagSummary>> {
    const all = await this.index.tagSummaries(repository);
    if (all.length === 0) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} has no tags`, { name: repository });
    const filter = options.filter?.trim().toLowerCase() ?? '';
    const shown = all.filter((tag) => filter === '' || tag.tag.toLowerCase().includes(filter) || tag.digest.includes(filter));
    const key = TAG_KEYS[options.sort];
    shown.sort((a, b) => direction(options.order) * compare(key(a), key(b)) || a.tag.localeCompare(b.tag));
    return page(shown, options);
  }
}

const TAG_KEYS: Record<TagSort, (tag: TagSummary) => string | number> = {
  name: (tag) => tag.tag,
  pushed: (tag) => tag.updatedAt,
  size: (tag) => tag.bytes,
  pulled: (tag) => tag.lastPulledAt ?? 0,
};

function compare(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function direction(order: SortOrder): number {
  return order === 'desc' ? -1 : 1;
}

export function page<T>(items: T[], paging: Paging): PageOf<T> {
  return { total: items.length, offset: paging.offset, limit: paging.limit, items: items.slice(paging.offset, paging.offset + paging.limit) };
}
