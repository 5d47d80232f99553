import { isRepositoryName } from '../oci/names.js';

/**
 * Access as the Docker token specification names it: a resource (`repository:team-a/app`,
 * `registry:catalog`) and the actions on it. Requests, grants, token claims and challenge
 * scopes are all lists of these.
 */
export type RepositoryAction = 'pull' | 'push' | 'delete';

export interface ResourceAccess {
  /** `repository` or `registry` (any other type is never granted). */
  type: string;
  name: string;
  actions: string[];
}

/** The catalog resource: `registry:catalog:*`. */
export const CATALOG_ACCESS: ResourceAccess = { type: 'registry', name: 'catalog', actions: ['*'] };

export function repositoryAccess(name: string, ...actions: RepositoryAction[]): ResourceAccess {
  return { type: 'repository', name, actions };
}

/** A scope string that does not follow `type[(class)]:name:action[,action]`. */
export class ScopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScopeError';
  }
}

const RESOURCE_TYPE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const ACTION = /^(?:[a-z]+|\*)$/;
const MAX_SCOPE_LENGTH = 1024;

/**
 * Parses one scope: `repository:team-a/app:pull,push`. The name may hold a `:` (a host with a
 * port), so the type ends at the first `:` and the actions start after the last. A resource
 * class such as `repository(plugin)` is accepted and dropped.
 */
export function parseScope(scope: string): ResourceAccess {
  if (scope.length > MAX_SCOPE_LENGTH) throw new ScopeError(`scope is longer than ${MAX_SCOPE_LENGTH} characters`);
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) throw new ScopeError(`scope "${printableScope(scope)}" is not type:name:actions`);
  const rawType = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',');
  if (!RESOURCE_TYPE.test(rawType)) throw new ScopeError(`scope "${printableScope(scope)}" has an invalid resource type`);
  const type = rawType.replace(/\(.*\)$/, '');
  if (name === '') throw new ScopeError(`scope "${printableScope(scope)}" names no resource`);
  if (actions.some((action) => !ACTION.test(action))) throw new ScopeError(`scope "${printableScope(scope)}" has an invalid action list`);
  if (type === 'repository' && !isRepositoryName(name)) throw new ScopeError(`scope "${printableScope(scope)}" names an invalid repository`);
  return { type, name, actions: unique(actions) };
}

/** Space-separated scopes (OAuth2) or repeated parameters (GET /token); merged per resource. */
export function parseScopes(values: string[]): ResourceAccess[] {
  const scopes: ResourceAccess[] = [];
  for (const value of values) for (const part of value.split(' ')) if (part !== '') scopes.push(parseScope(part));
  return mergeAccess(scopes);
}

export function formatScope(access: ResourceAccess): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** One entry per resource, actions united, in first-seen order. */
export function mergeAccess(list: ResourceAccess[]): ResourceAccess[] {
  const merged = new Map<string, ResourceAccess>();
  for (const entry of list) {
    const key = `${entry.type}\u0000${entry.name}`;
    const existing = merged.get(key);
    if (existing) existing.actions = unique([...existing.actions, ...entry.actions]);
    else merged.set(key, { type: entry.type, name: entry.name, actions: unique(entry.actions) });
  }
  return [...merged.values()];
}

/** The part of `requested` that `available` covers (`*` in `available` covers every action). */
export function intersectAccess(requested: ResourceAccess[], available: ResourceAccess[]): ResourceAccess[] {
  return requested.map((entry) => {
    const actions = new Set<string>();
    for (const grant of available) {
      if (grant.type !== entry.type || grant.name !== entry.name) continue;
      for (const action of entry.actions) if (grant.actions.includes(action) || grant.actions.includes('*')) actions.add(action);
    }
    return { type: entry.type, name: entry.name, actions: entry.actions.filter((action) => actions.has(action)) };
  });
}

/** True when every action of every entry in `required` is in `granted`. */
export function covers(granted: ResourceAccess[], required: ResourceAccess[]): boolean {
  return required.every((entry) => {
    const match = granted.filter((grant) => grant.type === entry.type && grant.name === entry.name);
    return entry.actions.every((action) => match.some((grant) => grant.actions.includes(action) || grant.actions.includes('*')));
  });
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function printableScope(value: string): string {
  const cleaned = value.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > 120 ? `${cleaned.slice(0, 120)}…` : cleaned;
}
