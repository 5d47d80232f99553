import type { Logger } from 'pino';
import type { Registry2Import } from './registry2-import.js';

/**
 * `berth serve` adopts a registry:2 tree it finds in its storage root and has not imported yet,
 * in the background: the server answers from the first second, and each image becomes
 * pullable as soon as its repository is imported (a tag already pushed to Berth is never
 * moved). Shutdown interrupts it; the next start resumes, skipping what is done.
 */
export interface BackgroundImport {
  /** Settles when the import has finished, failed or was not needed. */
  readonly finished: Promise<void>;
  stop(): Promise<void>;
}

export function importAtStart(importer: Registry2Import, log: Logger): BackgroundImport {
  const controller = new AbortController();
  const finished = (async () => {
    try {
      if (!(await importer.pending())) return;
      log.info('registry:2 tree found in the storage root: importing it while serving');
      const report = await importer.run({
        dryRun: false,
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.phase === 'scan') log.info({ repositories: progress.total, skipped: progress.skipped }, 'registry:2 import: tree scanned');
          if (progress.phase === 'repository') {
            log.info({ repository: progress.repository, done: progress.done, total: progress.total, ...progress.counts }, 'registry:2 import: repository imported');
          }
        },
      });
      for (const skip of report.skipped) log.warn(skip, `registry:2 import skipped ${skip.item}: ${skip.reason}`);
      const { skipped, dryRun: _dryRun, ...counts } = report;
      log.info({ ...counts, skipped: skipped.length }, 'registry:2 import finished');
    } catch (error) {
      if (controller.signal.aborted) log.info('registry:2 import interrupted by shutdown; the next start resumes it');
      else log.error({ err: error }, 'registry:2 import failed; the next start (or `berth import`) resumes it');
    }
  })();
  return {
    finished,
    async stop() {
      controller.abort();
      await finished;
    },
  };
}
