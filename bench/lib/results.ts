/** What one benchmark run found: samples per metric and subject, in the order they were taken. */
export interface Sample {
  value: number;
  /** CPU seconds (user + system) the server process used during the sample, when known. */
  cpuSeconds?: number;
  /** Share of the machine's CPU used by processes outside the benchmark during the sample. */
  foreignCpuShare?: number;
}

export type Better = 'higher' | 'lower';

export interface MetricResult {
  id: string;
  title: string;
  unit: string;
  better: Better;
  /** Subject name → samples. Berth and Distribution first, references after. */
  samples: Record<string, Sample[]>;
  note?: string;
  error?: string;
}

export interface Machine {
  date: string;
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  filesystem: string;
  node: string;
  berth: string;
  distribution: string;
  nginx: string;
  wrk: string;
}

export interface Settings {
  mode: 'full' | 'quick';
  repetitions: number;
  [key: string]: string | number;
}

export interface RunResults {
  machine: Machine;
  settings: Settings;
  metrics: MetricResult[];
  /** Physical references measured without a server (page cache, hashing). */
  references: MetricResult[];
  durationSeconds: number;
  /** Samples discarded and retaken because the machine was busy elsewhere. */
  retakes: number;
}

export const BERTH = 'Berth';
export const DISTRIBUTION = 'Distribution';
