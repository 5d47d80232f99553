import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import { HistogramFamily, ValueFamily, type HistogramCell, type ValueCell } from './metric-cells.js';

/**
 * Prometheus metrics with registry:2's names and labels, so its dashboards keep working
 * (Distribution 2.8 instruments each route with docker/go-metrics' `NewDefaultHttpMetrics`
 * under the `registry_http` namespace, the route name as the constant `handler` label, and
 * promhttp's lower-case `method`), plus Berth's own under `berth_`.
 *
 * The request path pays map lookups and arithmetic: its label sets are resolved once per
 * handler/method/code into cells (`metric-cells.ts`), so a request hashes and allocates nothing here. Everything else (garbage
 * collection, uploads, quotas, the outbox) is read from its owner when Prometheus scrapes.
 */

/** Distribution's route names (`registry/api/v2/routes.go`), the `handler` label. */
export type HandlerLabel = 'base' | 'catalog' | 'tags' | 'manifest' | 'blob' | 'blob_upload' | 'blob_upload_chunk' | 'referrers' | 'other';

/** go-metrics' defaults. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60];
/** 1 KiB to 4 GiB, doubling (prometheus.ExponentialBuckets(1024, 2, 22)). */
const SIZE_BUCKETS = Array.from({ length: 22 }, (_, index) => 1024 * 2 ** index);

/** The `handler` label for a request URL, by the path's shape (no allocation, no parse). */
export function handlerOf(url: string): HandlerLabel {
  if (!url.startsWith('/v2')) return 'other';
  const query = url.indexOf('?');
  const end = query < 0 ? url.length : query;
  if (end <= 4) return 'base';
  if (end === 12 && url.startsWith('/v2/_catalog')) return 'catalog';
  if (url.endsWith('/tags/list', end)) return 'tags';
  if (within(url, '/manifests/', end)) return 'manifest';
  if (within(url, '/referrers/', end)) return 'referrers';
  const uploads = url.lastIndexOf('/blobs/uploads', end);
  if (uploads >= 0) return end > uploads + '/blobs/uploads/'.length ? 'blob_upload_chunk' : 'blob_upload';
  if (within(url, '/blobs/', end)) return 'blob';
  return 'other';
}

/** Whether `part` occurs in `url` before `end` (the path, not the query). */
function within(url: string, part: string, end: number): boolean {
  const at = url.indexOf(part);
  return at >= 0 && at + part.length <= end;
}

/** Sources read at scrape time. Each is optional: a missing one leaves its metric at zero. */
export interface MetricSources {
  clientAborts?: () => number;
  refusedConnections?: () => number;
  uploadsInProgress?: () => Promise<number>;
  quotaUsage?: () => Promise<{ repository: string; bytes: number; limitBytes?: number }[]>;
  outbox?: () => Promise<{ endpoint: string; pending: number; lastSuccessAt?: number; lastErrorAt?: number }[]>;
}

/** The cells one handler's requests bump, resolved on its first request. */
interface HandlerCells {
  inFlight: ValueCell<'handler'>;
  requestSize: HistogramCell<'handler'>;
  responseSize: HistogramCell<'handler'>;
  /** By `METHOD_INDEX`, resolved on the first request with that method. */
  byMethod: (MethodCells | undefined)[];
}

interface MethodCells {
  duration: HistogramCell<'handler' | 'method'>;
  byCode: Map<number, ValueCell<'handler' | 'code' | 'method'>>;
}

export class Metrics {
  readonly registry = new PromRegistry();
  private readonly requests: ValueFamily<'handler' | 'code' | 'method'>;
  private readonly duration: HistogramFamily<'handler' | 'method'>;
  private readonly requestSize: HistogramFamily<'handler'>;
  private readonly responseSize: HistogramFamily<'handler'>;
  private readonly inFlight: ValueFamily<'handler'>;
  readonly gcRuns: Counter<'outcome'>;
  readonly gcBytesFreed: Counter;
  readonly gcDuration: Histogram;
  readonly authFailures: Counter;
  readonly authThrottled: Counter;
  readonly notificationEvents: Counter<'type' | 'endpoint'>;
  private readonly handlerCells = new Map<HandlerLabel, HandlerCells>();

  /** Read at scrape time; filled in by `provide` once their owners exist. */
  private readonly sources: MetricSources = {};
  private readonly storageAction: HistogramFamily<'driver' | 'action'>;
  private readonly storageCells = new Map<string, HistogramCell<'driver' | 'action'>>();

  constructor(sources: MetricSources = {}) {
    this.provide(sources);
    sources = this.sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // The request path's families are cells (see `metric-cells.ts`); registration order is the scrape's order.
    this.requests = new ValueFamily('counter', { name: 'registry_http_requests_total', help: 'Total number of HTTP requests made.', labelNames: ['handler', 'code', 'method'], registers });
    this.duration = new HistogramFamily({ name: 'registry_http_request_duration_seconds', help: 'The HTTP request latencies in seconds.', labelNames: ['handler', 'method'], buckets: DURATION_BUCKETS, registers });
    this.requestSize = new HistogramFamily({ name: 'registry_http_request_size_bytes', help: 'The HTTP request sizes in bytes.', labelNames: ['handler'], buckets: SIZE_BUCKETS, registers });
    this.responseSize = new HistogramFamily({ name: 'registry_http_response_size_bytes', help: 'The HTTP response sizes in bytes.', labelNames: ['handler'], buckets: SIZE_BUCKETS, registers });
    this.inFlight = new ValueFamily('gauge', { name: 'registry_http_in_flight_requests', help: 'The in-flight HTTP requests', labelNames: ['handler'], registers });
    this.storageAction = new HistogramFamily({ name: 'registry_storage_action_seconds', help: 'The number of seconds that the storage action takes', labelNames: ['driver', 'action'], buckets: DURATION_BUCKETS, registers });
    this.notificationEvents = new Counter({ name: 'registry_notifications_events_total', help: 'The number of total events', labelNames: ['type', 'endpoint'], registers });
    this.gcRuns = new Counter({ name: 'berth_gc_runs_total', help: 'Garbage collection runs, by outcome.', labelNames: ['outcome'], registers });
    this.gcBytesFreed = new Counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes freed by garbage collection.', registers });
    this.gcDuration = new Histogram({ name: 'berth_gc_duration_seconds', help: 'How long garbage collection runs take.', buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers });
    this.authFailures = new Counter({ name: 'berth_auth_failures_total', help: 'Requests refused for missing or wrong credentials (401).', registers });
    this.authThrottled = new Counter({ name: 'berth_auth_throttled_total', help: 'Requests refused by login throttling (429).', registers });
    new Counter({
      name: 'berth_http_client_aborts_total', help: 'Requests whose client went away before the response was complete.', registers,
      collect() { this.reset(); this.inc(sources.clientAborts?.() ?? 0); },
    });
    new Counter({
      name: 'berth_http_refused_connections_total', help: 'Connections closed on arrival: their client already held too many.', registers,
      collect() { this.reset(); this.inc(sources.refusedConnections?.() ?? 0); },
    });
    new Gauge({
      name: 'berth_uploads_in_progress', help: 'Upload sessions in progress.', registers,
      async collect() { this.set((await sources.uploadsInProgress?.()) ?? 0); },
    });
    new Gauge({
      name: 'berth_repository_usage_bytes', help: 'Storage a repository uses, as its quota counts it.', labelNames: ['repository'], registers,
      async collect() {
        this.reset();
        for (const usage of (await sources.quotaUsage?.()) ?? []) this.set({ repository: usage.repository }, usage.bytes);
      },
    });
    new Gauge({
      name: 'berth_repository_quota_bytes', help: 'The quota limit that applies to a repository.', labelNames: ['repository'], registers,
      async collect() {
        this.reset();
        for (const usage of (await sources.quotaUsage?.()) ?? []) if (usage.limitBytes !== undefined) this.set({ repository: usage.repository }, usage.limitBytes);
      },
    });
    new Gauge({
      name: 'registry_notifications_pending', help: 'The gauge of pending events in queue', labelNames: ['endpoint'], registers,
      async collect() {
        this.reset();
        for (const state of (await sources.outbox?.()) ?? []) this.set({ endpoint: state.endpoint }, state.pending);
      },
    });
  }

  provide(sources: MetricSources): void {
    Object.assign(this.sources, sources);
  }

  /** One storage driver action (see `storage/timed-driver.ts`). */
  storageTimed(driver: string, action: string, seconds: number): void {
    let cell = this.storageCells.get(action);
    if (!cell) this.storageCells.set(action, (cell = this.storageAction.cell({ driver, action })));
    cell.observe(seconds);
  }

  /** A request was routed: counts it in flight. Pair with `finished`. */
  started(handler: HandlerLabel): void {
    this.cellsOf(handler).inFlight.value += 1;
  }

  /**
   * A request ended (answered or abandoned). Positional, so the hot path builds no object;
   * `startedMs` is from `performance.now()` (a double: no BigInt per request). Sizes are the
   * declared Content-Lengths (0 for chunked bodies and HEAD answers).
   */
  finished(handler: HandlerLabel, httpMethod: string | undefined, status: number, startedMs: number, requestBytes: number, responseBytes: number): void {
    const cells = this.cellsOf(handler);
    cells.inFlight.value -= 1;
    cells.requestSize.observe(requestBytes);
    cells.responseSize.observe(responseBytes);
    const methodIndex = (httpMethod !== undefined && METHOD_INDEX.get(httpMethod)) || OTHER_METHOD;
    const byMethod = (cells.byMethod[methodIndex] ??= { duration: this.duration.cell({ handler, method: METHOD_LABELS[methodIndex]! }), byCode: new Map() });
    let requests = byMethod.byCode.get(status);
    if (!requests) byMethod.byCode.set(status, (requests = this.requests.cell({ handler, code: String(status), method: METHOD_LABELS[methodIndex]! })));
    requests.value += 1;
    byMethod.duration.observe((performance.now() - startedMs) / 1000);
    if (status === 401) this.authFailures.inc();
    else if (status === 429) this.authThrottled.inc();
  }

  private cellsOf(handler: HandlerLabel): HandlerCells {
    let cells = this.handlerCells.get(handler);
    if (!cells) {
      const labels = { handler };
      cells = { inFlight: this.inFlight.cell(labels), requestSize: this.requestSize.cell(labels), responseSize: this.responseSize.cell(labels), byMethod: [] };
      this.handlerCells.set(handler, cells);
    }
    return cells;
  }
}

/** promhttp's method labels: lower case, unknown methods folded into one label (no label explosion). */
const METHOD_LABELS = ['other', 'get', 'head', 'put', 'post', 'patch', 'delete', 'options'] as const;
const OTHER_METHOD = 0;
/** HTTP method → index in `METHOD_LABELS`; never 0, so a miss and `other` read alike. */
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHOD_LABELS.slice(1).map((label, index) => [label.toUpperCase(), index + 1]));
