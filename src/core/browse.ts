import type { BrowseIndex, RepositorySummary, TagSummary } from '../metadata/store.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName } from '../oci/names.js';
import type { VisibleFilter } from './search.js';

export type RepositorySort = 'name' | 'pushed' | 'size' | 'pulled';
export type TagSort = 'name' | 'pushed' | 'size' | 'pulled';
export type SortOrder = 'asc' | 'desc';

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
 * then sorted, then paged) and a repository's tags. The database computes the numbers; this
 * orders and pages them, so both surfaces agree on every sort.
 */
export class RepositoryBrowser {
  constructor(private readonly index: BrowseIndex) {}

  async repositories(visible: VisibleFilter, options: { filter?: string; sort: RepositorySort; order: SortOrder } & Paging): Promise<PageOf<ListedRepository>> {
    const filter = options.filter?.trim().toLowerCase() ?? '';
    // Sizes cost the most to compute: for every repository only to sort by them, else for the page shown.
    const bySize = options.sort === 'size';
    const all = (await this.index.repositorySummaries({ bytes: bySize }))
      .filter((summary) => filter === '' || summary.name.includes(filter) || (summary.description?.toLowerCase().includes(filter) ?? false));
    const allowed = new Set(await visible(all.map((summary) => summary.name)));
    const shown = all.filter((summary) => allowed.has(summary.name)).map((summary) => ({ ...summary, kind: 'hosted' as const }));
    const key = REPOSITORY_KEYS[options.sort];
    shown.sort((a, b) => direction(options.order) * compare(key(a), key(b)) || a.name.localeCompare(b.name));
    const result = page(shown, options);
    if (!bySize) {
      const sizes = await this.index.repositoryBytes(result.items.map((item) => item.name));
      for (const item of result.items) item.bytes = sizes.get(item.name) ?? 0;
    }
    return result;
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

const REPOSITORY_KEYS: Record<RepositorySort, (summary: RepositorySummary) => string | number> = {
  name: (summary) => summary.name,
  pushed: (summary) => summary.pushedAt ?? 0,
  size: (summary) => summary.bytes,
  pulled: (summary) => summary.pulledAt ?? 0,
};

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
