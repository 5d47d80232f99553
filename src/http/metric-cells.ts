import { Counter, Gauge, type Metric, type Registry } from 'prom-client';

/**
 * Metric families whose label sets are resolved once into cells that the request path bumps
 * with plain arithmetic. prom-client hashes and validates the label set on every `inc` and
 * `observe`, its `labels()` children included; at about six observations a request that cost
 * manifest GETs and blob HEADs 9% of their rate. Here a caller asks a family for the cell of a
 * label set once, keeps it, and at scrape time the family hands prom-client its metric in
 * prom-client's own shapes, so names, types, labels and text are what prom-client writes.
 *
 * Cells appear in the scrape in the order they were first asked for, as prom-client's series
 * appear in the order they were first touched.
 */

export type LabelSet<L extends string> = Readonly<Record<L, string>>;

export interface FamilyConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}

/** One cell per distinct label set, kept in first-use order. */
class CellsByLabels<L extends string, C> {
  private readonly cells = new Map<string, C>();

  constructor(
    private readonly labelNames: readonly L[],
    private readonly create: (labels: LabelSet<L>) => C,
  ) {}

  get(labels: LabelSet<L>): C {
    // NUL cannot be typed into a label value that came from a route name, method or status.
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let cell = this.cells.get(key);
    if (!cell) {
      // In label-name order, as prom-client's `labels(...values)` builds them: the text keeps that order.
      const ordered = Object.fromEntries(this.labelNames.map((name) => [name, labels[name]])) as LabelSet<L>;
      this.cells.set(key, (cell = this.create(ordered)));
    }
    return cell;
  }

  values(): IterableIterator<C> {
    return this.cells.values();
  }
}

/** A counter's or a gauge's value for one label set. */
export class ValueCell<L extends string> {
  value = 0;
  constructor(readonly labels: LabelSet<L>) {}
}

/** A counter or a gauge: prom-client's own `Counter` or `Gauge`, filled from the cells when scraped. */
export class ValueFamily<L extends string> {
  private readonly cells: CellsByLabels<L, ValueCell<L>>;

  constructor(type: 'counter' | 'gauge', config: FamilyConfig<L>) {
    const cells = (this.cells = new CellsByLabels(config.labelNames, (labels) => new ValueCell(labels)));
    const metric = { name: config.name, help: config.help, labelNames: config.labelNames, registers: config.registers };
    if (type === 'counter') {
      new Counter({ ...metric, collect() { this.reset(); for (const cell of cells.values()) this.inc(cell.labels, cell.value); } });
    } else {
      new Gauge({ ...metric, collect() { this.reset(); for (const cell of cells.values()) this.set(cell.labels, cell.value); } });
    }
  }

  cell(labels: LabelSet<L>): ValueCell<L> {
    return this.cells.get(labels);
  }
}

export class HistogramCell<L extends string> {
  /** Observations per bucket, not cumulative; one above the last bound is only in `count`. */
  readonly bucketCounts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: LabelSet<L>,
    private readonly upperBounds: readonly number[],
  ) {
    this.bucketCounts = new Float64Array(upperBounds.length);
  }

  observe(value: number): void {
    // prom-client throws on these; a measurement must never fail the request it measures.
    if (!Number.isFinite(value)) return;
    const bounds = this.upperBounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket += 1;
    if (bucket < bounds.length) this.bucketCounts[bucket]! += 1;
    this.sum += value;
    this.count += 1;
  }

  clear(): void {
    this.bucketCounts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** What prom-client's registry reads from a metric (`Histogram#get()`'s shape). */
interface Exported {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: { labels: Record<string, string | number>; value: number; metricName: string }[];
}

/**
 * A histogram. prom-client has no way to fill a `Histogram` from outside, so this registers
 * itself as a metric that answers `get()` as a `Histogram` would: per label set, cumulative
 * `_bucket` samples with `le` first, then `+Inf`, `_sum` and `_count`. A cell without an
 * observation is left out, as prom-client has no series before the first `observe`.
 */
export class HistogramFamily<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly upperBounds: readonly number[];
  private readonly cells: CellsByLabels<L, HistogramCell<L>>;

  constructor(config: FamilyConfig<L> & { buckets: readonly number[] }) {
    this.name = config.name;
    this.help = config.help;
    const upperBounds = (this.upperBounds = [...config.buckets]);
    this.cells = new CellsByLabels(config.labelNames, (labels) => new HistogramCell(labels, upperBounds));
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  cell(labels: LabelSet<L>): HistogramCell<L> {
    return this.cells.get(labels);
  }

  /** The registry's `resetMetrics()`: every series goes, as in prom-client (cells stay valid for their holders). */
  reset(): void {
    for (const cell of this.cells.values()) cell.clear();
  }

  async get(): Promise<Exported> {
    const values: Exported['values'] = [];
    const bucketName = `${this.name}_bucket`;
    for (const cell of this.cells.values()) {
      if (cell.count === 0) continue;
      let cumulative = 0;
      this.upperBounds.forEach((upperBound, bucket) => {
        cumulative += cell.bucketCounts[bucket]!;
        values.push({ labels: { le: upperBound, ...cell.labels }, value: cumulative, metricName: bucketName });
      });
      values.push(
        { labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: bucketName },
        { labels: { ...cell.labels }, value: cell.sum, metricName: `${this.name}_sum` },
        { labels: { ...cell.labels }, value: cell.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
