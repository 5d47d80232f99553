import type { Logger } from 'pino';
import type { AuditIndex, AuditQuery, AuditRow, StoredAuditRow } from '../metadata/store.js';
import type { CollectionReport } from './garbage-collector.js';
import type { RetentionReport } from './retention.js';
import type { Clock, Scheduler } from './time.js';

/**
 * The audit trail: who did what, when, from where. Changes to content (pushes, tag, manifest,
 * blob and repository deletes) are written in their own transaction, beside their webhook
 * event (`notifications/events.ts`); what is recorded here is everything else: logins and
 * failed logins, token issuance, user and role changes, garbage collection and retention runs
 * with what they removed, configuration reloads.
 *
 * Append-only: the API reads, nothing updates (a trigger refuses it), and entries older than
 * the retention period are dropped daily. Secrets are never recorded: only user names,
 * addresses, actions, targets and counts.
 */
export const AUDIT_TASK = 'audit-retention';

export interface Origin {
  /** The client's address. */
  address?: string;
  requestId?: string;
}

export type AuditFields = Pick<AuditRow, 'repository' | 'target'> & { detail?: Record<string, unknown> };

export class AuditTrail {
  private stopPrune: (() => void) | undefined;

  constructor(
    private readonly store: AuditIndex,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly retentionMs: number,
  ) {}

  /** Drops entries past retention once a day (and once at start). */
  start(scheduler: Scheduler): void {
    void this.prune();
    this.stopPrune = scheduler.every(AUDIT_TASK, 24 * 3_600_000, () => this.prune());
  }

  stop(): void {
    this.stopPrune?.();
  }

  async prune(): Promise<number> {
    const removed = await this.store.pruneAudit(this.clock() - this.retentionMs);
    if (removed > 0) this.log.info({ removed }, 'audit entries past retention dropped');
    return removed;
  }

  query(query: AuditQuery): Promise<StoredAuditRow[]> {
    return this.store.queryAudit(query);
  }

  /** Appends one entry; a failure to record is logged, never turned into the request's failure. */
  record(actor: string, action: string, origin: Origin, fields: AuditFields = {}): void {
    this.store.appendAudit([this.entry(actor, action, origin, fields)]).catch((error: unknown) => this.log.error({ err: error, action }, 'could not record an audit entry'));
  }

  /** The entry `record` would append, for a use case that writes it in the transaction of its change. */
  entry(actor: string, action: string, origin: Origin, fields: AuditFields = {}): AuditRow {
    const detail = { ...(origin.requestId ? { requestId: origin.requestId } : {}), ...fields.detail };
    const row: AuditRow = { at: this.clock(), actor, action };
    if (origin.address) row.address = origin.address;
    if (fields.repository !== undefined) row.repository = fields.repository;
    if (fields.target !== undefined) row.target = fields.target;
    if (Object.keys(detail).length > 0) row.detail = JSON.stringify(detail);
    return row;
  }

  collectionFinished(report: CollectionReport): void {
    if (report.dryRun) return;
    this.record('system', 'gc.run', {}, { detail: { removed: report.removed, bytesFreed: report.bytesFreed, durationMs: report.durationMs } });
  }

  retentionApplied(report: RetentionReport): void {
    this.record('system', 'retention.run', {}, {
      detail: { tags: report.tags.map(({ repository, tag }) => `${repository}:${tag}`), manifests: report.manifests.length },
    });
  }
}
