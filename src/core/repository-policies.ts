import { matchesPattern } from '../auth/patterns.js';
import type { RepositoryPolicy } from '../config/config.js';
import type { QuotaExceeded, QuotaLimit } from '../metadata/store.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName } from '../oci/names.js';

/**
 * Per-repository rules from `policies:` — deployment (allow/disable redeploy, read-only),
 * quota and retention. The first policy whose pattern matches the name applies.
 */
export class PolicyBook {
  constructor(private current: readonly RepositoryPolicy[]) {}

  get policies(): readonly RepositoryPolicy[] {
    return this.current;
  }

  /** A configuration reload (SIGHUP): the next request and the next retention run see the new rules. */
  replace(policies: readonly RepositoryPolicy[]): void {
    this.current = policies;
  }

  for(name: RepositoryName): RepositoryPolicy | undefined {
    return this.current.find((policy) => matchesPattern(policy.match, name));
  }

  get hasRetention(): boolean {
    return this.current.some((policy) => policy.retention !== undefined);
  }
}

/** The quota a push into this repository is checked against, if any. */
export function quotaFor(policy: RepositoryPolicy | undefined): QuotaLimit | undefined {
  if (!policy?.quota) return undefined;
  return policy.quota.scope === 'pattern' ? { limitBytes: policy.quota.limitBytes, pattern: policy.match } : { limitBytes: policy.quota.limitBytes };
}

export function quotaDenied(name: RepositoryName, policy: RepositoryPolicy, exceeded: QuotaExceeded): RegistryError {
  const scope = policy.quota?.scope === 'pattern' ? `repositories matching "${policy.match}"` : `repository ${name}`;
  return new RegistryError(
    'DENIED',
    `quota exceeded: ${scope} use ${exceeded.usage} of ${exceeded.limit} bytes and this push needs ${exceeded.needed} more; nothing was stored`,
    { usage: exceeded.usage, limit: exceeded.limit, needed: exceeded.needed },
  );
}

export function requireDeployable(name: RepositoryName, policy: RepositoryPolicy | undefined): void {
  if (policy?.deployment === 'read-only') {
    throw new RegistryError('DENIED', `repository ${name} is read-only (policy "${policy.match}"): pushes and deletes are refused`);
  }
}
