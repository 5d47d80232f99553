import type { Page } from '../metadata/store.js';

/**
 * A page of the names `allow` keeps, read through the full list page by page, so `n` and `last`
 * mean the same as on the unfiltered list.
 */
export async function filteredPage<T extends string>(
  list: (limit: number, last?: string) => Promise<Page<T>>,
  allow: (names: string[]) => Promise<string[]>,
  limit: number,
  last?: string,
): Promise<Page<T>> {
  const items: T[] = [];
  let cursor = last;
  for (;;) {
    const page = await list(Math.max(limit, 1), cursor);
    const allowed = new Set(await allow(page.items));
    for (const name of page.items) {
      if (!allowed.has(name)) continue;
      if (items.length >= limit) return { items, more: true };
      items.push(name);
    }
    if (!page.more || page.items.length === 0) return { items, more: false };
    cursor = page.items.at(-1);
  }
}

/**
 * Stored names plus the names groups show them under: `internal/team/app` in a group `all` whose
 * members include `internal` is also `all/team/app`. Sorted in byte order, without duplicates.
 */
export function withGroupNames(stored: readonly string[], groups: readonly { name: string; prefixes: readonly string[] }[]): string[] {
  const names = new Set(stored);
  for (const name of stored) {
    for (const group of groups) {
      const prefix = group.prefixes.find((candidate) => name.startsWith(candidate));
      if (prefix) names.add(`${group.name}/${name.slice(prefix.length)}`);
    }
  }
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
