import { randomUUID } from 'node:crypto';
import type { Digest } from '../../oci/digest.js';
import type { RepositoryName, Tag } from '../../oci/names.js';
import type { AuditRow, ChangeJournal, OutboxRow } from '../../metadata/store.js';

/**
 * Who asked for a change, and how: what registry:2 puts in an event's `request` and `actor`,
 * and what the audit trail records. Built by the HTTP layer for writes; absent for Berth's own
 * work (imports, retention), whose actor is `system`.
 */
export interface RequestContext {
  id: string;
  /** The client's address. */
  addr: string;
  host: string;
  method: string;
  userAgent: string;
  /** The authenticated user, if any. */
  actor?: string;
  /** `https://host` as the client reached the registry, for event target URLs. */
  origin: string;
}

export type EventAction = 'push' | 'pull' | 'mount' | 'delete';

/** registry:2's event target (`notifications/event.go`), with Berth's `fromRepository` on mounts. */
export interface EventTarget {
  mediaType?: string;
  size?: number;
  digest?: Digest;
  length?: number;
  repository: RepositoryName;
  fromRepository?: RepositoryName;
  url?: string;
  tag?: Tag;
}

/** One event as registry:2 sends it inside `{"events": [...]}` (application/vnd.docker.distribution.events.v2+json). */
export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';
/** What registry:2 puts as the target media type of a layer or config blob. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';

export interface EventSource {
  /** host:port this registry serves on (registry:2: the configured `http.addr`). */
  addr: string;
  instanceId: string;
}

/**
 * Builds the journal rows of one change: the webhook event (only when endpoints are
 * configured, so an unused outbox stays empty) and the audit entry (when the change is one
 * the audit trail records).
 */
export class EventFactory {
  constructor(
    private readonly source: EventSource,
    /** Whether any endpoint would receive events now (they can change on reload). */
    private readonly outboxEnabled: () => boolean,
    private readonly now: () => number,
  ) {}

  event(action: EventAction, target: EventTarget, context: RequestContext | undefined): OutboxRow | undefined {
    if (!this.outboxEnabled()) return undefined;
    const at = this.now();
    const event: RegistryEvent = {
      id: randomUUID(),
      timestamp: new Date(at).toISOString(),
      action,
      target: context && target.digest ? { ...target, url: targetUrl(context.origin, target) } : target,
      request: context
        ? { id: context.id, addr: context.addr, host: context.host, method: context.method, useragent: context.userAgent }
        : { id: '', addr: '', host: '', method: '', useragent: '' },
      actor: context?.actor ? { name: context.actor } : {},
      source: { addr: this.source.addr, instanceID: this.source.instanceId },
    };
    return { repository: target.repository, action, mediaType: target.mediaType ?? '', createdAt: at, payload: JSON.stringify(event) };
  }

  audit(action: string, context: RequestContext | undefined, fields: Omit<AuditRow, 'at' | 'actor' | 'action' | 'address'> = {}): AuditRow {
    const row: AuditRow = { at: this.now(), actor: actorOf(context), action, ...fields };
    if (context) {
      row.address = context.addr;
      row.detail = JSON.stringify({ requestId: context.id, ...(fields.detail ? (JSON.parse(fields.detail) as object) : {}) });
    }
    return row;
  }

  journal(event: OutboxRow | undefined, audit?: AuditRow): ChangeJournal {
    return { outbox: event ? [event] : [], audit: audit ? [audit] : [] };
  }
}

export function actorOf(context: RequestContext | undefined): string {
  return context ? context.actor ?? 'anonymous' : 'system';
}

function targetUrl(origin: string, target: EventTarget): string {
  const kind = target.mediaType === BLOB_MEDIA_TYPE ? 'blobs' : 'manifests';
  return `${origin}/v2/${target.repository}/${kind}/${target.digest}`;
}
