import { parsePolicy } from '../config/load.js';
import type { RepositoryPolicy } from '../config/config.js';
import type { PolicyIndex, PolicyRuleRow } from '../metadata/store.js';
import type { RepositoryName } from '../oci/names.js';
import type { AuditTrail, Origin } from './audit.js';
import type { PolicyBook } from './repository-policies.js';
import type { Scheduler } from './time.js';

/**
 * Repository policies administered in the web UI. Each is one `policies:` entry in the
 * configuration's own shape (`{ match, deployment, quota: { limit, scope }, retention: { … } }`),
 * checked by the configuration's schema, kept in the database beside its audit entry, and tried
 * before the configuration's policies. Every replica reads them at start and then every
 * `REFRESH_MS`, so a change made through one replica reaches the others within that time.
 */
export const POLICY_REFRESH_TASK = 'policy-refresh';
const REFRESH_MS = 30_000;

export interface AdministeredPolicy {
  /** As stored and as the form shows it: the configuration's keys. */
  raw: Record<string, unknown>;
  policy: RepositoryPolicy;
  updatedAt: number;
  updatedBy: string;
}

export class PolicyAdministration {
  private rules = new Map<string, AdministeredPolicy>();
  private stopRefresh: (() => void) | undefined;

  constructor(
    private readonly store: PolicyIndex,
    private readonly book: PolicyBook,
    private readonly audit: AuditTrail,
  ) {}

  /** Reads the stored policies into the book; a row the schema refuses stops startup rather than being skipped. */
  async load(): Promise<void> {
    const rules = new Map<string, AdministeredPolicy>();
    for (const row of await this.store.listPolicyRules()) rules.set(row.pattern, administered(row));
    this.rules = rules;
    // Exact names before patterns, so a repository's own policy wins over its namespace's.
    this.book.replaceAdministered([...rules.values()].map((rule) => rule.policy).sort((a, b) => Number(a.match.includes('*')) - Number(b.match.includes('*'))));
  }

  start(scheduler: Scheduler): void {
    this.stopRefresh = scheduler.every(POLICY_REFRESH_TASK, REFRESH_MS, () => this.load());
  }

  stop(): void {
    this.stopRefresh?.();
  }

  /** The policy administered for exactly this pattern, if any. */
  get(pattern: string): AdministeredPolicy | undefined {
    return this.rules.get(pattern);
  }

  /** Validates `raw` (throws the schema's message as a `ConfigError`), stores it for `repository` and applies it at once here. */
  async set(repository: RepositoryName, raw: Record<string, unknown>, actor: string, origin: Origin): Promise<void> {
    const shaped = { ...raw, match: repository };
    parsePolicy(shaped);
    const entry = this.audit.entry(actor, 'policy.put', origin, { repository, detail: { policy: shaped } });
    await this.store.putPolicyRule({ pattern: repository, rule: JSON.stringify(shaped), updatedAt: entry.at, updatedBy: actor }, entry);
    await this.load();
  }

  /** Removes the administered policy: the configuration's (if any) applies again. */
  async clear(repository: RepositoryName, actor: string, origin: Origin): Promise<boolean> {
    const removed = await this.store.removePolicyRule(repository, this.audit.entry(actor, 'policy.remove', origin, { repository }));
    await this.load();
    return removed;
  }
}

function administered(row: PolicyRuleRow): AdministeredPolicy {
  const raw = JSON.parse(row.rule) as Record<string, unknown>;
  return { raw, policy: parsePolicy(raw), updatedAt: row.updatedAt, updatedBy: row.updatedBy };
}
