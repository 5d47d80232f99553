import type { SearchIndex } from '../metadata/store.js';
import type { RepositoryName } from '../oci/names.js';

/** Which of these repositories the caller may pull (the same filter as `_catalog`). */
export type VisibleFilter = (names: RepositoryName[]) => Promise<RepositoryName[]>;

export interface SearchRequest {
  term: string;
  /** Results per page, 1–100. */
  pageSize: number;
  /** 1-based. */
  page: number;
}

export interface SearchResult {
  name: RepositoryName;
  description: string;
}

export interface SearchPage {
  term: string;
  total: number;
  pages: number;
  page: number;
  pageSize: number;
  results: SearchResult[];
}

export const SEARCH_MAX_PAGE_SIZE = 100;
export const SEARCH_DEFAULT_PAGE_SIZE = 25;
/** Matches are filtered for visibility this many at a time (one authorisation call each). */
const FILTER_BATCH = 1000;

/**
 * `docker search` and the UI's search box: the database ranks the matches (exact name, name
 * prefix, name substring, description), then only what the caller may pull is counted and paged —
 * so a caller learns nothing about repositories it cannot see, not even how many there are.
 */
export class RepositorySearch {
  constructor(private readonly index: SearchIndex) {}

  async search(request: SearchRequest, visible: VisibleFilter): Promise<SearchPage> {
    const term = request.term.trim();
    const matches = await this.index.searchRepositories(term);
    const shown: SearchResult[] = [];
    for (let start = 0; start < matches.length; start += FILTER_BATCH) {
      const batch = matches.slice(start, start + FILTER_BATCH);
      const allowed = new Set(await visible(batch.map((match) => match.name)));
      for (const match of batch) if (allowed.has(match.name)) shown.push({ name: match.name, description: match.description ?? '' });
    }
    const offset = (request.page - 1) * request.pageSize;
    return {
      term,
      total: shown.length,
      pages: Math.ceil(shown.length / request.pageSize),
      page: request.page,
      pageSize: request.pageSize,
      results: shown.slice(offset, offset + request.pageSize),
    };
  }
}
