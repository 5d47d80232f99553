import type { Logger } from 'pino';
import type { NotificationEndpoint } from '../../config/config.js';
import type { OutboxIndex, OutboxRow, StoredOutboxEvent, WebhookEndpointState } from '../../metadata/store.js';
import type { Clock, Scheduler } from '../time.js';
import { webhookRequest, type WebhookSender } from './delivery.js';

/*
 * The webhook outbox — invariant:
 *
 *   1. An event row exists if and only if the change it describes committed: the row is written
 *      in the change's own transaction (manifest PUT, tag/manifest/blob delete, blob link at
 *      upload commit or mount, repository delete). Seq order is commit order (SQLite has one
 *      writer). Pull events are the exception: buffered in memory and appended in batches (a
 *      crash may lose the last second of pulls, never a push).
 *   2. Each endpoint has a cursor, delivered_seq: every event at or below it was acknowledged by
 *      the receiver (2xx/3xx) or is one the endpoint ignores. Everything above it is pending.
 *   3. Per endpoint one delivery is in flight at a time, carrying the oldest pending events in
 *      seq order; the cursor moves only after the acknowledgement. So delivery is at least once
 *      (a crash after the answer and before the cursor update repeats that batch) and in commit
 *      order, hence in order per repository.
 *   4. A failure leaves the cursor where it is and schedules the next attempt after a backoff:
 *      nothing is dropped however long the receiver is down, and a restart resumes from the cursor.
 *   5. A row is deleted only once every configured endpoint's cursor has passed it. A newly
 *      configured endpoint starts at the newest event (it is not sent history).
 */

/** Events per delivery (registry:2 sends one envelope per event; batching keeps a backlog short). */
const BATCH = 32;
/** Retries back off, doubling past the endpoint's threshold, to at most this. */
const MAX_BACKOFF_MS = 5 * 60_000;
export const WEBHOOK_TASKS = { deliver: 'webhook-delivery', flushPulls: 'webhook-pull-flush' } as const;

export interface DeliveryListener {
  delivered(endpoint: string, events: number): void;
  failed(endpoint: string): void;
}

export class Outbox {
  private readonly running = new Map<string, Promise<void>>();
  /**
   * When each failing endpoint is tried next. In memory on purpose: a restart tries at once
   * (an operator who restarts after fixing a receiver should not wait out a long backoff).
   */
  private readonly retryAt = new Map<string, number>();
  private readonly again = new Set<string>();
  private pulls: OutboxRow[] = [];
  private stops: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly store: OutboxIndex,
    private endpoints: readonly NotificationEndpoint[],
    private readonly send: WebhookSender,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
    /**
     * Whether this process delivers to the endpoint now. One process: always. Replicas: the
     * holder of the endpoint's lease, so events leave once and in order, not once per replica.
     */
    private readonly claim: (endpoint: string) => Promise<boolean> = async () => true,
  ) {}

  /** Told about each delivery and failure (metrics). */
  readonly listeners: DeliveryListener[] = [];

  /** Events are recorded only while some endpoint would receive them. */
  get hasEndpoints(): boolean {
    return this.endpoints.length > 0;
  }

  /**
   * A configuration reload (SIGHUP): new endpoints start after the newest event, removed ones
   * stop (their state stays, and resumes if they come back); retries of changed ones start over.
   */
  async reconfigure(endpoints: readonly NotificationEndpoint[]): Promise<void> {
    await this.store.registerEndpoints(endpoints.map((endpoint) => endpoint.name));
    this.endpoints = endpoints;
    this.retryAt.clear();
    this.wake();
  }

  get names(): string[] {
    return this.endpoints.map((endpoint) => endpoint.name);
  }

  async start(): Promise<void> {
    await this.store.registerEndpoints(this.names);
    const pollMs = Math.max(100, Math.min(1_000, ...this.endpoints.map((endpoint) => endpoint.backoffMs)));
    this.stops.push(this.scheduler.every(WEBHOOK_TASKS.deliver, pollMs, () => this.deliverAll()));
    this.stops.push(this.scheduler.every(WEBHOOK_TASKS.flushPulls, 1_000, () => this.flushPulls()));
    this.wake();
  }

  /** A change with events committed: deliver now rather than at the next poll. */
  wake(): void {
    if (!this.stopped) void this.deliverAll();
  }

  /** A pull event, kept in memory and appended with the next batch (never on the pull path). */
  recordPull(row: OutboxRow): void {
    this.pulls.push(row);
  }

  async flushPulls(): Promise<void> {
    if (this.pulls.length === 0) return;
    const batch = this.pulls;
    this.pulls = [];
    await this.store.appendOutbox(batch);
    this.wake();
  }

  states(): Promise<WebhookEndpointState[]> {
    return this.store.endpointStates(this.names);
  }

  /** Delivers what is due to every endpoint; resolves when each pass has finished. */
  async deliverAll(): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => this.deliverTo(endpoint)));
    await this.store.pruneOutbox(this.names);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const stop of this.stops) stop();
    await this.flushPulls().catch((error: unknown) => this.log.warn({ err: error }, 'could not write the last pull events'));
    await Promise.all(this.running.values());
  }

  private deliverTo(endpoint: NotificationEndpoint): Promise<void> {
    const current = this.running.get(endpoint.name);
    if (current) {
      this.again.add(endpoint.name);
      return current;
    }
    const pass = (async () => {
      do {
        this.again.delete(endpoint.name);
        if (!(await this.claim(endpoint.name))) return;
        await this.drain(endpoint);
      } while (this.again.has(endpoint.name) && !this.stopped);
    })().finally(() => this.running.delete(endpoint.name));
    this.running.set(endpoint.name, pass);
    return pass;
  }

  /** Sends batches in order until none is pending, a delivery fails, or the endpoint is backing off. */
  private async drain(endpoint: NotificationEndpoint): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if ((this.retryAt.get(endpoint.name) ?? 0) > this.clock()) return;
      const [state] = await this.store.endpointStates([endpoint.name]);
      if (!state) return;
      const batch = await this.store.pendingEvents(endpoint.name, BATCH);
      if (batch.length === 0) return;
      const last = batch.at(-1)!.seq;
      const wanted = batch.filter((event) => wants(endpoint, event));
      if (wanted.length === 0) {
        await this.store.recordDelivery(endpoint.name, last, this.clock(), false);
        continue;
      }
      try {
        await this.send(endpoint, webhookRequest(endpoint, wanted));
      } catch (error) {
        const failures = state.failures + 1;
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        const message = `${(error as Error).message ?? String(error)}${cause ? ` (${cause})` : ''}`;
        const waitMs = failures < endpoint.threshold ? endpoint.backoffMs : Math.min(MAX_BACKOFF_MS, endpoint.backoffMs * 2 ** (failures - endpoint.threshold + 1));
        this.retryAt.set(endpoint.name, this.clock() + waitMs);
        await this.store.recordFailure(endpoint.name, message, this.clock(), this.clock() + waitMs);
        for (const listener of this.listeners) listener.failed(endpoint.name);
        this.log.warn({ endpoint: endpoint.name, failures, retryInMs: waitMs, error: message }, 'webhook delivery failed; it will be retried');
        return;
      }
      this.retryAt.delete(endpoint.name);
      await this.store.recordDelivery(endpoint.name, last, this.clock(), true);
      for (const listener of this.listeners) listener.delivered(endpoint.name, wanted.length);
    }
  }
}

function wants(endpoint: NotificationEndpoint, event: StoredOutboxEvent): boolean {
  if ((endpoint.ignoredActions as string[]).includes(event.action)) return false;
  return event.mediaType === '' || !endpoint.ignoredMediaTypes.includes(event.mediaType);
}
