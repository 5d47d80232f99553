import { matchesPattern } from '../auth/patterns.js';
import type { RepositoryPolicy } from '../config/config.js';
import type { QuotaExceeded, QuotaLimit } from '../metadata/store.js';
import { RegistryError } from '../oci/errors.js';
import type { RepositoryName } from '../oci/names.js';

/**
 * Per-repository rules — deployment (allow/disable redeploy, read-only), quota and retention —
 * from the web UI (`core/policy-admin.ts`, kept in the database) and then from `policies:`.
 * The first policy whose pattern matches the name applies, administered ones first.
 */
export class PolicyBook {
  private administered: readonly RepositoryPolicy[] = [];

  constructor(private current: readonly RepositoryPolicy[]) {}

  /** The configuration's policies. */
  get policies(): readonly RepositoryPolicy[] {
    return this.current;
  }

  /** Policies administered in the web UI, in the order they are tried. */
  replaceAdministered(policies: readonly RepositoryPolicy[]): void {
    this.administered = policies;
  }

  /** The policy that applies to `name` and where it comes from. */
  explain(name: RepositoryName): { policy: RepositoryPolicy; source: 'administered' | 'configuration' } | undefined {
    const administered = this.administered.find((policy) => matchesPattern(policy.match, name));
    if (administered) return { policy: administered, source: 'administered' };
    const configured = this.current.find((policy) => matchesPattern(policy.match, name));
    return configured && { policy: configured, source: 'configuration' };
  }

  /** A configuration reload (SIGHUP): the next request and the next retention run see the new rules. */
  replace(policies: readonly RepositoryPolicy[]): void {
    this.current = policies;
  }

  for(name: RepositoryName): RepositoryPolicy | undefined {
    return this.explain(name)?.policy;
  }

  get hasRetention(): boolean {
    return [...this.administered, ...this.current].some((policy) => policy.retention !== undefined);
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
