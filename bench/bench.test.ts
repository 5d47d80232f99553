import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { IMPORT_REPUSH, IMPORT_SKOPEO } from './lib/lifecycle.js';
import { METRICS_OFF_HEAD, METRICS_OFF_MANIFEST, OBSERVABILITY_METRICS, WEBHOOK_OFF } from './lib/metrics.js';
import { PROXY_HOSTED_CONCURRENT, PROXY_HOSTED_MANIFEST, PROXY_HOSTED_PULL, PROXY_METRICS, PROXY_RELAY_ONLY, PROXY_UPSTREAM_DIRECT } from './lib/proxy.js';
import { ONE_REPLICA, REDIRECT_OFF, SCALEOUT_BERTH_ONLY, SCALEOUT_MANIFEST, SCALEOUT_METRICS, SCALEOUT_REDIRECT_CPU } from './lib/scaleout.js';
import { SEARCH_METRICS } from './lib/search.js';
import type { MetricResult, RunResults } from './lib/results.js';

const ROOT = resolve(import.meta.dirname, '..');
/** Every metric the report must carry. */
const METRICS = ['rss-idle', 'push-monolithic', 'push-chunked', 'pull', 'manifest-get', 'blob-head', 'parallel-pull', 'small-push', 'catalog-walk', 'tags-list', 'auth-pull', 'rss-peak-run', 'rss-push-2g', 'rss-idle-after', 'gc', 'import', ...PROXY_METRICS, ...SEARCH_METRICS, ...OBSERVABILITY_METRICS, ...SCALEOUT_METRICS];
/** Metrics Distribution has no counterpart for: Berth against its own reference. */
const BERTH_ONLY = new Set(['import', ...SEARCH_METRICS, ...SCALEOUT_BERTH_ONLY]);
const REFERENCES: Record<string, string[]> = {
  'push-monolithic': ['Node upload', 'Node upload + fsync', 'nginx PUT (dav, no fsync)'],
  pull: ['nginx sendfile on', 'nginx sendfile off'],
  'auth-pull': ['bcrypt verify per request (bcryptjs, cost 5, one thread)'],
  import: [IMPORT_REPUSH, IMPORT_SKOPEO],
  'proxy-cold-pull': [PROXY_UPSTREAM_DIRECT, PROXY_RELAY_ONLY],
  'proxy-concurrent-wall': [PROXY_HOSTED_CONCURRENT],
  'proxy-warm-pull': [PROXY_HOSTED_PULL],
  'proxy-manifest-get': [PROXY_HOSTED_MANIFEST],
  'prometheus-manifest-get': [METRICS_OFF_MANIFEST],
  'prometheus-blob-head': [METRICS_OFF_HEAD],
  'webhook-push': [WEBHOOK_OFF],
  [SCALEOUT_REDIRECT_CPU]: [REDIRECT_OFF],
  [SCALEOUT_MANIFEST]: [ONE_REPLICA],
};

test('when the benchmark runs in quick mode, then the report has a positive number for both servers in every metric', { timeout: 420_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'berth-bench-test-'));
  try {
    const markdown = join(work, 'benchmarks.md');
    const json = join(work, 'benchmarks.json');
    const { code, output } = await new Promise<{ code: number | null; output: string }>((done) => {
      const child = spawn('bash', [join(ROOT, 'bench/run.sh'), '--quick', '--out', markdown, '--json', json], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('exit', (exitCode) => done({ code: exitCode, output: text }));
    });
    assert.equal(code, 0, `bench/run.sh --quick failed:\n${output}`);

    const results = JSON.parse(await readFile(json, 'utf8')) as RunResults;
    const byId = new Map<string, MetricResult>(results.metrics.map((metric) => [metric.id, metric]));
    assert.deepEqual([...byId.keys()].sort(), [...METRICS].sort());
    for (const id of METRICS) {
      const metric = byId.get(id)!;
      assert.equal(metric.error, undefined, `${id}: ${metric.error}`);
      for (const subject of ['Berth', ...(BERTH_ONLY.has(id) ? [] : ['Distribution']), ...(REFERENCES[id] ?? [])]) {
        const samples = metric.samples[subject] ?? [];
        assert.ok(samples.length > 0, `${id}: no samples for ${subject}`);
        for (const sample of samples) assert.ok(sample.value > 0 && Number.isFinite(sample.value), `${id} ${subject}: ${sample.value}`);
      }
    }
    for (const reference of results.references) assert.ok(Object.values(reference.samples).flat().every((sample) => sample.value > 0), reference.title);

    // The Markdown carries the same: one row per metric with a number in both columns.
    const report = await readFile(markdown, 'utf8');
    const rows = report.split('\n').filter((line) => /^\| \d+ \|/.test(line));
    assert.equal(rows.length, METRICS.length);
    for (const [index, row] of rows.entries()) {
      const cells = row.split('|').map((cell) => cell.trim());
      const berthOnly = BERTH_ONLY.has(results.metrics[index]!.id);
      if (berthOnly) assert.equal(cells[5], '—', `a Berth-only metric shows no Distribution number: ${row}`);
      for (const cell of berthOnly ? [cells[4]!] : [cells[4]!, cells[5]!]) {
        const value = Number(cell.split(' ')[0]!.replace(/,/g, ''));
        assert.ok(value > 0, `row without a positive number: ${row}`);
      }
    }
    assert.match(report, /## Targets/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
