import type { Logger } from 'pino';
import { CollectionInProgressError, type CollectionOptions, type CollectionProgress, type CollectionReport, type GarbageCollector } from './garbage-collector.js';

export interface CollectionStatus {
  running: boolean;
  /** The running collection's latest progress. */
  progress?: CollectionProgress;
  /** The newest finished run (this process). */
  lastReport?: CollectionReport;
  /** Why the newest run started here failed, if it did. */
  error?: string;
}

/**
 * Collections started on request that run in the background, so a person can watch their
 * progress instead of waiting on one long request (the web UI). One at a time here; the
 * collector's lease keeps a scheduled run or another replica out as well.
 */
export class CollectionRuns {
  private current: { progress?: CollectionProgress; finished: Promise<void> } | undefined;
  private error: string | undefined;

  constructor(
    private readonly collector: GarbageCollector,
    private readonly log: Logger,
  ) {}

  /** Starts a collection; refuses while one started here is still running. */
  start(options: Omit<CollectionOptions, 'onProgress'>): void {
    if (this.current) throw new CollectionInProgressError();
    this.error = undefined;
    const run: { progress?: CollectionProgress; finished: Promise<void> } = { finished: Promise.resolve() };
    run.finished = this.collector
      .collect({ ...options, onProgress: (progress) => (run.progress = progress) })
      .then((report) => this.log.info({ bytesFreed: report.bytesFreed, dryRun: report.dryRun }, 'garbage collection requested in the web UI'))
      .catch((error: unknown) => {
        this.error = error instanceof CollectionInProgressError ? 'another garbage collection was running; try again when it has finished' : 'the collection failed; see the server log';
        if (!(error instanceof CollectionInProgressError)) this.log.error({ err: error }, 'garbage collection failed');
      })
      .finally(() => {
        this.current = undefined;
      });
    this.current = run;
  }

  status(): CollectionStatus {
    return {
      running: this.current !== undefined,
      ...(this.current?.progress ? { progress: this.current.progress } : {}),
      ...(this.collector.lastReport ? { lastReport: this.collector.lastReport } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /** Settles when the running collection (if any) has finished; for shutdown and tests. */
  async settled(): Promise<void> {
    await this.current?.finished;
  }
}
