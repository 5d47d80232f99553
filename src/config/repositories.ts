import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';

/**
 * `repositories:` (Berth: hosted, proxy and group repositories, as Nexus names them) and
 * registry:2's `proxy:` section (the whole registry as a pull-through cache of one upstream).
 * Both are normalised here into `RepositoriesConfig`; without either Berth is one hosted space.
 */
const duration = z
  .union([z.string(), z.number()])
  .refine((value) => parseDuration(value) !== undefined, { message: 'expected a duration such as "10s", "24h" or "1h30m"' });
const size = z
  .union([z.string(), z.number()])
  .refine((value) => parseSize(value) !== undefined, { message: 'expected a size such as 1073741824, "500MB" or "10GiB"' });

/** One path component: the repository is addressed as `<host>/<name>/<image>`. */
const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

const upstreamSchema = z.object({
  url: z.string().refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname.replace(/\/+$/, '') === '' && !url.username && !url.password;
    } catch {
      return false;
    }
  }, { message: 'expected the upstream registry\'s root URL such as "https://registry-1.docker.io" (no path, no credentials in it)' }),
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  passwordfile: z.string().min(1).optional(),
  /** How long the upstream may take to send response headers, and how long a body may stall (default 30s). */
  timeout: duration.optional(),
});

const itemSchema = z.object({
  name: z.string().refine((value) => REPOSITORY_NAME.test(value), { message: 'expected one lowercase path component such as "hub" or "team-images"' }),
  kind: z.enum(['hosted', 'proxy', 'group']),
  upstream: upstreamSchema.optional(),
  revalidate: duration.optional(),
  staleiferror: duration.optional(),
  maxsize: size.optional(),
  /** Cached images neither pulled nor fetched for this long are removed (like registry:2's proxy.ttl); absent or 0: kept. */
  ttl: duration.optional(),
  members: z.array(z.string()).optional(),
  writablemember: z.string().optional(),
  /** A listener of its own, where the repository is served at the root (`:8001`). */
  addr: z.string().min(1).optional(),
});

type RawItem = z.infer<typeof itemSchema>;

export const repositoriesSchema = z
  .object({
    default: z.string().optional(),
    items: z.array(itemSchema).optional(),
  })
  .superRefine((raw, context) => {
    const items = raw.items ?? [];
    const byName = new Map<string, RawItem>();
    items.forEach((item, index) => {
      const problem = (message: string, ...path: (string | number)[]) => context.addIssue({ code: 'custom', message, path: ['items', index, ...path] });
      if (byName.has(item.name)) problem(`repository "${item.name}" is declared twice`, 'name');
      byName.set(item.name, item);
      const misplaced = (key: keyof RawItem, kinds: string) => {
        if (item[key] !== undefined) problem(`${key} applies only to ${kinds} repositories, not to ${item.kind} "${item.name}"`, key);
      };
      if (item.kind === 'proxy') {
        if (!item.upstream) problem(`proxy "${item.name}" needs upstream.url`, 'upstream');
        if (item.upstream?.password !== undefined && item.upstream.passwordfile !== undefined) problem('set password or passwordfile, not both', 'upstream');
        if ((item.upstream?.password !== undefined || item.upstream?.passwordfile !== undefined) && item.upstream?.username === undefined) {
          problem('a password needs a username', 'upstream', 'username');
        }
      } else {
        misplaced('upstream', 'proxy');
        misplaced('revalidate', 'proxy');
        misplaced('staleiferror', 'proxy');
        misplaced('maxsize', 'proxy');
        misplaced('ttl', 'proxy');
      }
      if (item.kind === 'group') {
        if (!item.members?.length) problem(`group "${item.name}" needs members`, 'members');
      } else {
        misplaced('members', 'group');
        misplaced('writablemember', 'group');
      }
    });
    items.forEach((item, index) => {
      if (item.kind !== 'group') return;
      const problem = (message: string, ...path: (string | number)[]) => context.addIssue({ code: 'custom', message, path: ['items', index, ...path] });
      (item.members ?? []).forEach((member, memberIndex) => {
        if (!byName.has(member)) problem(`unknown member "${member}": declare it in repositories.items`, 'members', memberIndex);
      });
      if (new Set(item.members).size !== item.members?.length) problem('a member is listed twice', 'members');
      if (item.writablemember !== undefined) {
        if (!item.members?.includes(item.writablemember)) problem(`writablemember "${item.writablemember}" is not one of the members`, 'writablemember');
        else if (byName.get(item.writablemember)?.kind !== 'hosted') problem(`writablemember "${item.writablemember}" must be a hosted repository`, 'writablemember');
      }
      const cycle = findCycle(item.name, byName);
      if (cycle) problem(`groups form a cycle: ${cycle.join(' → ')}`, 'members');
    });
    if (raw.default !== undefined && !byName.has(raw.default)) {
      context.addIssue({ code: 'custom', message: `unknown repository "${raw.default}": declare it in repositories.items`, path: ['default'] });
    }
  });

function findCycle(start: string, byName: Map<string, RawItem>, path: string[] = []): string[] | undefined {
  if (path.includes(start)) return [...path.slice(path.indexOf(start)), start];
  const item = byName.get(start);
  if (item?.kind !== 'group') return undefined;
  for (const member of item.members ?? []) {
    const cycle = findCycle(member, byName, [...path, start]);
    if (cycle) return cycle;
  }
  return undefined;
}

/** registry:2's `proxy:` section. */
export const registry2ProxySchema = z.object({
  remoteurl: upstreamSchema.shape.url,
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  ttl: duration.optional(),
});

export interface UpstreamConfig {
  /** Root URL without a trailing slash. */
  url: string;
  username?: string;
  password?: string;
  /** Until response headers arrive, and the longest pause within a body. */
  timeoutMs: number;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;

export interface ProxySettings {
  upstream: UpstreamConfig;
  /** A cached tag is re-checked with a HEAD at most this often. */
  revalidateMs: number;
  /** How long a cached tag is served after the upstream stops answering. */
  staleIfErrorMs: number;
  /** Byte budget of cached content; least recently pulled images are evicted first. */
  maxSizeBytes?: number;
  /** Cached images neither pulled nor fetched for this long are removed; undefined: kept. */
  expireAfterMs?: number;
}

export type RepositoryConfig = (
  | { kind: 'hosted'; name: string }
  | ({ kind: 'proxy'; name: string } & ProxySettings)
  | { kind: 'group'; name: string; members: string[]; writableMember?: string }
) & { listen?: { host: string; port: number } };

export interface RepositoriesConfig {
  items: RepositoryConfig[];
  /** Where bare names go (after images stored under their own names before repositories existed). */
  default?: string;
  /** registry:2's `proxy:`: bare names are a pull-through cache of this upstream. */
  mirror?: ProxySettings;
}

const DEFAULT_REVALIDATE_MS = 5 * 60_000;
const DEFAULT_STALE_IF_ERROR_MS = 24 * 3_600_000;
/** registry:2's proxy cache expiry when `proxy.ttl` is not set (its scheduler's 168h). */
const REGISTRY2_DEFAULT_TTL_MS = 168 * 3_600_000;

/** A `ttl` as milliseconds (`fallbackMs` when absent); 0: expiry off. */
function expiry(ttl: string | number | undefined, fallbackMs?: number): { expireAfterMs?: number } {
  const ms = ttl === undefined ? fallbackMs : parseDuration(ttl)!;
  return ms ? { expireAfterMs: ms } : {};
}

export function normaliseRepositories(
  raw: z.infer<typeof repositoriesSchema> | undefined,
  proxy: z.infer<typeof registry2ProxySchema> | undefined,
  fail: (message: string) => Error,
  warnings: string[],
  parseAddress: (addr: string, key: string) => { host: string; port: number },
): RepositoriesConfig {
  const items = (raw?.items ?? []).map((item, index): RepositoryConfig => {
    const config = repositoryConfig(item, fail);
    return item.addr === undefined ? config : { ...config, listen: parseAddress(item.addr, `repositories.items.${index}.addr`) };
  });
  const ports = items.flatMap((item) => (item.listen && item.listen.port !== 0 ? [item.listen.port] : []));
  if (new Set(ports).size !== ports.length) throw fail('repositories: two repositories listen on the same port');

  const config: RepositoriesConfig = { items, ...(raw?.default ? { default: raw.default } : {}) };
  if (proxy) {
    if (raw?.default !== undefined) throw fail('proxy: registry:2\'s proxy section makes bare names a cache of one upstream, which repositories.default also decides; declare a proxy in repositories.items instead');
    config.mirror = {
      upstream: { url: proxy.remoteurl.replace(/\/+$/, ''), timeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS, ...(proxy.username ? { username: proxy.username, password: proxy.password ?? '' } : {}) },
      revalidateMs: DEFAULT_REVALIDATE_MS,
      staleIfErrorMs: DEFAULT_STALE_IF_ERROR_MS,
      // Only images the mirror filled expire (CacheBudget), never those pushed before it was configured.
      ...expiry(proxy.ttl, REGISTRY2_DEFAULT_TTL_MS),
    };
  }
  return config;
}

function repositoryConfig(item: z.infer<typeof itemSchema>, fail: (message: string) => Error): RepositoryConfig {
  if (item.kind === 'hosted') return { kind: 'hosted', name: item.name };
  if (item.kind === 'group') return { kind: 'group', name: item.name, members: item.members!, ...(item.writablemember ? { writableMember: item.writablemember } : {}) };
  const upstream = item.upstream!;
  let password = upstream.password;
  if (upstream.passwordfile !== undefined) {
    try {
      password = readFileSync(upstream.passwordfile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw fail(`repositories: proxy "${item.name}": cannot read upstream.passwordfile ${upstream.passwordfile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return {
    kind: 'proxy',
    name: item.name,
    upstream: {
      url: upstream.url.replace(/\/+$/, ''),
      timeoutMs: upstream.timeout === undefined ? DEFAULT_UPSTREAM_TIMEOUT_MS : parseDuration(upstream.timeout)!,
      ...(upstream.username ? { username: upstream.username, password: password ?? '' } : {}),
    },
    revalidateMs: item.revalidate === undefined ? DEFAULT_REVALIDATE_MS : parseDuration(item.revalidate)!,
    staleIfErrorMs: item.staleiferror === undefined ? DEFAULT_STALE_IF_ERROR_MS : parseDuration(item.staleiferror)!,
    ...(item.maxsize === undefined ? {} : { maxSizeBytes: parseSize(item.maxsize)! }),
    ...expiry(item.ttl),
  };
}
