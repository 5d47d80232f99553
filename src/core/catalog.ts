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
