import type { ProxySettings, RepositoriesConfig } from '../config/repositories.js';
import { parseRepositoryName, type RepositoryName } from '../oci/names.js';
import { GroupRepository } from './group-repository.js';
import type { RequestContext } from './notifications/events.js';
import type { RepositoryHandle } from './repository.js';

/**
 * A configured repository (hosted, proxy or group): built once, kept for the server's life, so
 * state that outlives a request (a proxy's in-flight fetches, tokens, upstream health) has a
 * home. `image` gives the cheap per-image handle requests talk to.
 */
export interface RepositorySpace {
  readonly name: string;
  readonly kind: 'hosted' | 'proxy' | 'group';
  /** `visible` is the name the client used (`hub/library/alpine`), `image` the part inside this repository. */
  image(image: RepositoryName, visible: RepositoryName, context?: RequestContext): RepositoryHandle;
  /** The hosted handle writes through a group go to, if any. */
  writable?(image: RepositoryName, visible: RepositoryName, context?: RequestContext): RepositoryHandle | undefined;
  /** Proxies: the upstream's host, matched against containerd's `?ns=`. */
  readonly upstreamHost?: string;
  /** Groups: the stored-name prefixes of every member, in order (for the catalog). */
  readonly memberPrefixes?: readonly string[];
  /** Proxies: resolves once the cache fills in flight have ended (they belong to no request). */
  fillsSettled?(): Promise<void>;
  /** Proxies with a `ttl`: how often to call `expire`. */
  readonly expiryIntervalMs?: number;
  /** Proxies: removes cached images unused for `ttl`; the names removed. */
  expire?(): Promise<RepositoryName[]>;
}

export interface SpaceFactory {
  /** Content stored under `<storagePrefix><image>` in this registry's one hosted space. */
  hosted(storagePrefix: string): (image: RepositoryName, context?: RequestContext) => RepositoryHandle;
  proxy(name: string, settings: ProxySettings, storagePrefix: string): RepositorySpace;
}

export interface Resolved {
  handle: RepositoryHandle;
  /** The upstream namespace the request was matched by (`?ns=`), answered as `OCI-Namespace`. */
  namespace?: string;
}

/**
 * How a name maps (docs/repositories.md):
 * - `?ns=<host>` (containerd) naming a proxy's upstream host: that proxy, the whole name is the image;
 * - `<repository>/<image>`, where `<repository>` is configured: that repository;
 * - any other (bare) name: first the image stored under that very name (everything pushed before
 *   repositories were configured), then the `default` repository; with registry:2's `proxy:`
 *   section, the mirror. Without configuration, bare names are the one hosted space, as always.
 *
 * A hosted repository `internal` stores `team/app` as `internal/team/app`, the name it had when it
 * was pushed without repositories; a proxy `hub` caches `library/alpine` as `hub/library/alpine`.
 */
export class RepositoryResolver {
  private readonly spaces = new Map<string, RepositorySpace>();
  private readonly root: (image: RepositoryName, context?: RequestContext) => RepositoryHandle;
  private readonly mirror?: RepositorySpace;
  private readonly fallback?: RepositorySpace;

  constructor(config: RepositoriesConfig, factory: SpaceFactory) {
    this.root = factory.hosted('');
    const byName = new Map(config.items.map((item) => [item.name, item]));
    const build = (name: string): RepositorySpace => {
      const existing = this.spaces.get(name);
      if (existing) return existing;
      const item = byName.get(name)!;
      let space: RepositorySpace;
      if (item.kind === 'hosted') space = hostedSpace(name, factory.hosted(`${name}/`));
      else if (item.kind === 'proxy') space = factory.proxy(name, item, `${name}/`);
      else space = groupSpace(name, item.members.map(build), item.writableMember);
      this.spaces.set(name, space);
      return space;
    };
    for (const item of config.items) build(item.name);
    if (config.mirror) this.mirror = factory.proxy('proxy', config.mirror, '');
    if (config.default !== undefined) this.fallback = this.spaces.get(config.default);
  }

  /** `context`: who is asking, carried to the hosted handles whose changes it is recorded with. */
  resolve(name: RepositoryName, namespace?: string, context?: RequestContext): Resolved {
    if (namespace) {
      const proxy = this.byUpstreamHost(namespace);
      if (proxy) return { handle: proxy.image(name, name, context), namespace };
    }
    const slash = name.indexOf('/');
    if (slash > 0) {
      const space = this.spaces.get(name.slice(0, slash));
      if (space) return { handle: space.image(name.slice(slash + 1) as RepositoryName, name, context) };
    }
    if (this.mirror) return { handle: this.mirror.image(name, name, context) };
    if (!this.fallback) return { handle: this.root(name, context) };
    const legacy = this.root(name, context);
    const writable = this.fallback.writable?.(name, name, context);
    return { handle: new GroupRepository(name, this.fallback.name, [legacy, this.fallback.image(name, name, context)], writable) };
  }

  /** Each group with the stored-name prefixes its members' images live under. */
  groups(): { name: string; prefixes: readonly string[] }[] {
    return [...this.spaces.values()].filter((space) => space.kind === 'group').map((space) => ({ name: space.name, prefixes: space.memberPrefixes ?? [] }));
  }

  /** Proxies whose cached images expire (`ttl`). */
  expiringProxies(): RepositorySpace[] {
    return [...this.spaces.values(), ...(this.mirror ? [this.mirror] : [])].filter((space) => space.expiryIntervalMs !== undefined);
  }

  /** Once every proxy's cache fills in flight have ended (committed or failed). */
  async fillsSettled(): Promise<void> {
    await Promise.all([...this.spaces.values(), ...(this.mirror ? [this.mirror] : [])].map((space) => space.fillsSettled?.()));
  }

  /** The handle a mount's `from` names, when it is a valid name. */
  resolveName(name: string): RepositoryHandle {
    return this.resolve(parseRepositoryName(name)).handle;
  }

  private byUpstreamHost(namespace: string): RepositorySpace | undefined {
    const wanted = canonicalHost(namespace);
    for (const space of [...this.spaces.values(), ...(this.mirror ? [this.mirror] : [])]) {
      if (space.upstreamHost !== undefined && canonicalHost(space.upstreamHost) === wanted) return space;
    }
    return undefined;
  }
}

/** Docker Hub answers under several names; containerd says `docker.io`. */
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);

export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(lower) ? 'docker.io' : lower;
}

/** `open` already stores under the repository's prefix. */
function hostedSpace(name: string, open: (image: RepositoryName, context?: RequestContext) => RepositoryHandle): RepositorySpace {
  return { name, kind: 'hosted', image: (image, _visible, context) => open(image, context), writable: (image, _visible, context) => open(image, context) };
}

function groupSpace(name: string, members: RepositorySpace[], writableMember: string | undefined): RepositorySpace {
  const writableIndex = members.findIndex((member) => member.name === writableMember);
  return {
    name,
    kind: 'group',
    memberPrefixes: members.flatMap((member) => (member.kind === 'group' ? member.memberPrefixes ?? [] : [`${member.name}/`])),
    image: (image, visible, context) => {
      const handles = members.map((member) => member.image(image, visible, context));
      return new GroupRepository(visible, name, handles, writableIndex < 0 ? undefined : handles[writableIndex]);
    },
    writable: (image, visible, context) => (writableIndex < 0 ? undefined : members[writableIndex]!.writable?.(image, visible, context)),
  };
}
