import { format, max, median, min } from './stats.js';
import { IMPORT_SKOPEO } from './lifecycle.js';
import { METRICS_OFF_HEAD, METRICS_OFF_MANIFEST, WEBHOOK_OFF } from './metrics.js';
import { PROXY_HOSTED_CONCURRENT, PROXY_HOSTED_MANIFEST, PROXY_HOSTED_PULL, PROXY_RELAY_ONLY, PROXY_UPSTREAM_DIRECT } from './proxy.js';
import { ONE_REPLICA, REDIRECT_OFF, REPLICAS, SCALEOUT_CATALOG, SCALEOUT_MANIFEST, SCALEOUT_PULL, SCALEOUT_PUSH_CHUNKED, SCALEOUT_PUSH_MONOLITHIC, SCALEOUT_REDIRECT_CPU } from './scaleout.js';
import { BERTH, DISTRIBUTION, type MetricResult, type RunResults } from './results.js';

/** A target the full run is judged on, evaluated from the medians. */
export interface TargetResult {
  target: string;
  measured: string;
  pass: boolean | undefined;
}

function values(metric: MetricResult | undefined, subject: string): number[] {
  return metric?.samples[subject]?.map((sample) => sample.value) ?? [];
}

function med(metric: MetricResult | undefined, subject: string): number {
  return median(values(metric, subject));
}

function cell(metric: MetricResult, subject: string): string {
  const list = values(metric, subject);
  if (list.length === 0) return '—';
  if (list.length === 1) return format(list[0]!);
  return `${format(median(list))} (${format(min(list))}–${format(max(list))})`;
}

export function evaluateTargets(results: RunResults): TargetResult[] {
  const metric = (id: string) => results.metrics.find((candidate) => candidate.id === id);
  const targets: TargetResult[] = [];
  const ratioTarget = (label: string, id: string, reference: string | string[], threshold?: number) => {
    const m = metric(id);
    const references = Array.isArray(reference) ? reference : [reference];
    const referenceValues = references.map((name) => med(m, name));
    const best = Math.max(...referenceValues.filter(Number.isFinite));
    const bestName = references[referenceValues.indexOf(best)] ?? references[0]!;
    const ratio = med(m, BERTH) / best;
    targets.push({
      target: label,
      measured: Number.isFinite(ratio) ? `${ratio.toFixed(2)}× (${format(med(m, BERTH))} vs ${format(best)} ${m?.unit ?? ''}${references.length > 1 ? `, ${bestName}` : ''})` : 'not measured',
      pass: Number.isFinite(ratio) && threshold !== undefined ? ratio >= threshold : undefined,
    });
  };
  ratioTarget('Blob pull ≥ 1.0× Distribution', 'pull', DISTRIBUTION, 1.0);
  ratioTarget('Blob pull ≥ 0.9× the faster nginx variant', 'pull', ['nginx sendfile on', 'nginx sendfile off'], 0.9);
  ratioTarget('32 parallel pulls ≥ 1.0× Distribution', 'parallel-pull', DISTRIBUTION, 1.0);
  ratioTarget('Monolithic push ≥ 1.5× Distribution', 'push-monolithic', DISTRIBUTION, 1.5);
  ratioTarget('Monolithic push ≥ 0.9× Node upload handler (fsync, same durability)', 'push-monolithic', 'Node upload + fsync', 0.9);
  ratioTarget('Monolithic push ≥ 0.9× Node upload handler (no fsync)', 'push-monolithic', 'Node upload', 0.9);
  ratioTarget('Chunked push ≥ 1.5× Distribution', 'push-chunked', DISTRIBUTION, 1.5);
  ratioTarget('Chunked push ≥ 0.9× Node upload handler (fsync, same durability)', 'push-chunked', 'Node upload + fsync', 0.9);
  ratioTarget('Chunked push ≥ 0.9× Node upload handler (no fsync)', 'push-chunked', 'Node upload', 0.9);
  ratioTarget('Manifest GET by tag ≥ 5× Distribution', 'manifest-get', DISTRIBUTION, 5);
  ratioTarget('Blob HEAD ≥ 5× Distribution', 'blob-head', DISTRIBUTION, 5);
  ratioTarget('4 KiB pushes ≥ 3× Distribution', 'small-push', DISTRIBUTION, 3);
  ratioTarget('Authenticated pulls (htpasswd) ≥ 3× Distribution', 'auth-pull', DISTRIBUTION, 3);

  const walk = metric('catalog-walk');
  const speedup = med(walk, DISTRIBUTION) / med(walk, BERTH);
  targets.push({
    target: '_catalog full walk ≥ 10× faster than Distribution',
    measured: Number.isFinite(speedup) ? `${speedup.toFixed(1)}× faster (${format(med(walk, BERTH))} vs ${format(med(walk, DISTRIBUTION))} ms)` : 'not measured',
    pass: Number.isFinite(speedup) ? speedup >= 10 : undefined,
  });
  /** Berth's median ÷ a reference's where lower is better; without a ceiling, information only. */
  const ceilingRatio = (label: string, id: string, reference: string, ceiling?: number) => {
    const m = metric(id);
    const ratio = med(m, BERTH) / med(m, reference);
    targets.push({
      target: label,
      measured: Number.isFinite(ratio) ? `${ratio.toFixed(3)}× (${format(med(m, BERTH))} vs ${format(med(m, reference))} ${m?.unit ?? ''})` : 'not measured',
      pass: Number.isFinite(ratio) && ceiling !== undefined ? ratio <= ceiling : undefined,
    });
  };
  ceilingRatio("Garbage collection ≤ 0.1× Distribution's offline garbage-collect time (Berth online, serving pulls)", 'gc', DISTRIBUTION, 0.1);
  ratioTarget('registry:2 import faster than re-pushing the same images into Berth with skopeo', 'import', IMPORT_SKOPEO, 1.0);

  const limit = (label: string, id: string, ceiling: number) => {
    const value = med(metric(id), BERTH);
    targets.push({ target: label, measured: Number.isFinite(value) ? `${format(value)} MiB` : 'not measured', pass: Number.isFinite(value) ? value <= ceiling : undefined });
  };
  limit('Berth idle RSS ≤ 80 MiB', 'rss-idle', 80);
  limit('Berth peak RSS during a 2 GiB push ≤ 150 MiB', 'rss-push-2g', 150);

  /** Berth's median against a fixed bound, in the metric's own unit. */
  const bound = (label: string, id: string, test: (value: number) => boolean) => {
    const m = metric(id);
    const value = med(m, BERTH);
    targets.push({ target: label, measured: Number.isFinite(value) ? `${format(value)} ${m?.unit ?? ''}` : 'not measured', pass: Number.isFinite(value) ? test(value) : undefined });
  };
  ratioTarget("Proxy cold pull ≥ 1.2× Distribution's proxy", 'proxy-cold-pull', DISTRIBUTION, 1.2);
  ratioTarget('Proxy cold pull ≥ 0.9× pulling from the upstream directly', 'proxy-cold-pull', PROXY_UPSTREAM_DIRECT, 0.9);
  // What no proxy can beat here: a relay that only forwards bytes, against the upstream directly (information).
  const relayOnly = metric('proxy-cold-pull');
  const relayRatio = med(relayOnly, PROXY_RELAY_ONLY) / med(relayOnly, PROXY_UPSTREAM_DIRECT);
  targets.push({
    target: 'Proxy cold pull ceiling on this machine: a byte-forwarding relay ÷ the upstream directly (information)',
    measured: Number.isFinite(relayRatio) ? `${relayRatio.toFixed(2)}× (${format(med(relayOnly, PROXY_RELAY_ONLY))} vs ${format(med(relayOnly, PROXY_UPSTREAM_DIRECT))} MiB/s)` : 'not measured',
    pass: undefined,
  });
  bound('Proxy time to first byte of a cold blob ≤ 50 ms', 'proxy-first-byte', (value) => value <= 50);
  ratioTarget('Proxy warm pull ≥ 1.0× a pull from a hosted repository', 'proxy-warm-pull', PROXY_HOSTED_PULL, 1.0);
  // Response headers travel with the bytes the relay counts: 1 % over covers them at 256 MiB.
  bound('Proxy, 16 concurrent cold pulls: upstream bytes = 1.0× the image size', 'proxy-upstream-bytes', (value) => value <= 1.01);
  bound('Proxy, 16 concurrent cold pulls: wall time ≤ 1.2× one cold pull', 'proxy-concurrent-wall', (value) => value <= 1.2);
  const hostedConcurrent = med(metric('proxy-concurrent-wall'), PROXY_HOSTED_CONCURRENT);
  targets.push({
    target: `Proxy concurrent ceiling on this machine: ${PROXY_HOSTED_CONCURRENT} (information)`,
    measured: Number.isFinite(hostedConcurrent) ? `${format(hostedConcurrent)} ×` : 'not measured',
    pass: undefined,
  });
  ratioTarget('Proxy warm manifest GET by tag ≥ 0.8× the hosted manifest GET', 'proxy-manifest-get', PROXY_HOSTED_MANIFEST, 0.8);
  bound('/v1/search ≥ 1,000 req/s (10,000 repositories, 100,000 tags)', 'search-api', (value) => value >= 1000);
  for (const sort of ['name', 'pushed', 'size', 'pulled']) bound(`UI repository list sorted by ${sort} ≤ 50 ms server time`, `ui-repositories-${sort}`, (value) => value <= 50);
  bound('UI search page ≤ 50 ms server time', 'ui-search', (value) => value <= 50);
  bound("UI repository's tag page ≤ 50 ms server time", 'ui-tags', (value) => value <= 50);
  ratioTarget('Manifest GET with Prometheus metrics on within 5% of without', 'prometheus-manifest-get', METRICS_OFF_MANIFEST, 0.95);
  ratioTarget('Blob HEAD with Prometheus metrics on within 5% of without', 'prometheus-blob-head', METRICS_OFF_HEAD, 0.95);
  ceilingRatio('Image pushes with a webhook endpoint (information: the same Berth without one)', 'webhook-push', WEBHOOK_OFF);
  ratioTarget('S3: monolithic push ≥ 1.5× Distribution on the same Ceph RGW', SCALEOUT_PUSH_MONOLITHIC, DISTRIBUTION, 1.5);
  ratioTarget('S3: chunked push ≥ 1.5× Distribution on the same Ceph RGW', SCALEOUT_PUSH_CHUNKED, DISTRIBUTION, 1.5);
  ceilingRatio('S3: Berth CPU per GiB pulled with redirects ≤ 0.05× its CPU per GiB served through itself', SCALEOUT_REDIRECT_CPU, REDIRECT_OFF, 0.05);
  ratioTarget('S3: pull without redirects ≥ 1.0× Distribution', SCALEOUT_PULL, DISTRIBUTION, 1.0);
  ratioTarget(`S3: manifest GET by tag, ${REPLICAS} Berth replicas on PostgreSQL ≥ 5× Distribution`, SCALEOUT_MANIFEST, DISTRIBUTION, 5);
  ratioTarget(`S3: manifest GET, ${REPLICAS} replicas ÷ 1 replica on this machine (information)`, SCALEOUT_MANIFEST, ONE_REPLICA);
  ceilingRatio("S3: _catalog full walk ≤ 0.01× Distribution's time", SCALEOUT_CATALOG, DISTRIBUTION, 0.01);
  return targets;
}

function machineLine(results: RunResults): string {
  const m = results.machine;
  return [
    `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB.toFixed(1)} GiB RAM, Linux ${m.kernel}, temporary directories on ${m.filesystem}`,
    `Node ${m.node}; Berth ${m.berth}; Distribution ${m.distribution}; ${m.nginx}; ${m.wrk}`,
  ].join('  \n');
}

export function renderMarkdown(results: RunResults, targets: TargetResult[]): string {
  const s = results.settings;
  const lines: string[] = [];
  const push = (...text: string[]) => lines.push(...text);
  push(
    '# Benchmarks: Berth and CNCF Distribution',
    '',
    `Generated by \`npm run bench${s.mode === 'quick' ? ' -- --quick' : ''}\` on ${results.machine.date} (${s.mode} mode, ${s.repetitions} repetition${s.repetitions === 1 ? '' : 's'}, ${Math.round(results.durationSeconds)} s). Do not edit by hand: rerun the benchmark.`,
    '',
    machineLine(results),
    '',
  );
  if (s.mode === 'quick') push('> **Quick mode**: tiny sizes, one repetition. It proves the harness works; its numbers and pass/miss verdicts mean nothing.', '');

  push(
    '## Berth against Distribution',
    '',
    'Median of the repetitions, spread as (min–max). The ratio is Berth ÷ Distribution of the medians: above 1 is better for Berth where higher is better (↑), below 1 where lower is better (↓).',
    '',
    '| # | Metric | Unit | Berth | Distribution | Berth ÷ Distribution |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  results.metrics.forEach((metric, index) => {
    const unit = `${metric.unit} ${metric.better === 'higher' ? '↑' : '↓'}`;
    if (metric.error) {
      push(`| ${index + 1} | ${metric.title} | ${unit} | error | error | — (${metric.error.split('\n')[0]!.replace(/\|/g, '/')}) |`);
      return;
    }
    const ratio = med(metric, BERTH) / med(metric, DISTRIBUTION);
    push(`| ${index + 1} | ${metric.title} | ${unit} | ${cell(metric, BERTH)} | ${cell(metric, DISTRIBUTION)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—'} |`);
  });
  push('');

  push(
    '## Against the physical limits of this machine',
    '',
    'The same client, file and sizes as the metric they sit beside, measured in the same repetitions.',
    '',
    '| Reference | Unit | Value | Beside metric | Berth | Berth ÷ reference |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const reference of results.references) {
    push(`| ${reference.title} | ${reference.unit} | ${cell(reference, reference.title)} | — | — | — |`);
  }
  for (const metric of results.metrics) {
    for (const subject of Object.keys(metric.samples)) {
      if (subject === BERTH || subject === DISTRIBUTION) continue;
      const ratio = med(metric, BERTH) / med(metric, subject);
      push(`| ${subject} | ${metric.unit} | ${cell(metric, subject)} | ${metric.title} | ${format(med(metric, BERTH))} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—'} |`);
    }
  }
  push('');

  push('## Targets', '', '| Target | Measured (medians) | Result |', '| --- | --- | --- |');
  for (const target of targets) push(`| ${target.target} | ${target.measured} | ${target.pass === undefined ? (target.measured === 'not measured' ? 'not measured' : 'information') : target.pass ? 'pass' : '**miss**'} |`);
  push('');

  push(
    '## Method',
    '',
    '- Both registries run on loopback at the same time, each with its own temporary directory and the same registry:2-style `config.yml`: filesystem storage, `storage.delete.enabled: true`, no `auth`, `log.accesslog.disabled: true`, `log.level: warn` (Distribution otherwise logs a line per request at `info`), and `storage.cache.blobdescriptor: inmemory` as in registry:2\'s stock config (Berth ignores that key). Berth runs as `berth serve config.yml` does (`node` with the flags of the shebang of `dist/cli/main.cjs`, `--initial-old-space-size=64 --max-semi-space-size=4`), Distribution as `docker-registry serve config.yml` (Debian package, GOMAXPROCS = all cores).',
    '- Every metric runs its repetitions as Berth, Distribution (then the references) in turn — A/B/A/B — after one unmeasured warm-up round per server, so drift and page-cache state hit both sides alike. Before every push, `sync` flushes earlier dirty pages outside the timed part.',
    `- Blobs are random bytes: one ${s.bigBlobMiB} MiB random file in the page cache is the source of every large blob, each made unique by a random 32-byte tail, so each push stores new content on both servers. Pushes use the same request sequence on both servers: \`POST /v2/<name>/blobs/uploads/\` then \`PUT <Location>?digest=\` with the whole body (monolithic), or one \`PATCH\` per ${s.chunkMiB} MiB chunk with \`Content-Range\`, following each returned \`Location\`, then \`PUT ?digest=\` without a body (chunked).`,
    `- The load generator is Node (node:http, keep-alive agents, bodies streamed with Content-Length, responses fully read). Manifest GET by tag uses \`wrk -t${s.wrkThreads} -c${s.connections} -d${s.wrkSeconds}s\` with an Accept header listing the OCI and Docker manifest types; blob HEAD uses an equivalent closed-loop generator written in Node (${s.connections} keep-alive connections, one request in flight each), because wrk's parser waits for the body a HEAD response's Content-Length announces and every HEAD request stalls. Any non-2xx response fails the measurement.`,
    `- Parallel pulls: ${s.parallelPulls} simultaneous GETs of one ${s.parallelBlobMiB} MiB blob on ${s.parallelPulls} connections; aggregate bytes ÷ time until the last body ends. Small pushes: ${s.smallBlobs} unique ${s.smallBlobKiB} KiB blobs at concurrency ${s.smallConcurrency}, each POST + PUT. Catalog: ${s.catalogRepos} repositories (each a mounted config and layer and a tagged manifest), then \`GET /v2/_catalog?n=${s.catalogPage}\` following \`Link\` to the end; \`tags/list\` latency is the median of ${s.tagRequests} sequential requests on one keep-alive connection.`,
    `- Memory: VmRSS from /proc/<pid>/status ${s.idleSettleMs} ms after start (idle), VmHWM just before the 2 GiB phase (peak during the run), and for the ${s.memoryBlobMiB} MiB monolithic push VmHWM after resetting it (\`echo 5 > /proc/<pid>/clear_refs\`), cross-checked by sampling VmRSS every 20 ms. "Server CPU" in the raw data is utime + stime of the server process during the sample.`,
    '- References: page-cache read rate is `readSync` of the cached random file in 4 MiB reads; sha256 is Node\'s `createHash` over 4 MiB buffers; nginx (Debian, one worker, access log off) serves the same-size file with `sendfile on` and with `sendfile off` (1 MiB output buffers, the read size Berth uses) and takes `PUT` through `dav_methods PUT` (spooled to a temp file and renamed, no fsync); the minimal Node upload handler (`bench/upload-server.ts`) receives, hashes with sha256 and writes to a file — with and without fsync before answering. Both registries fsync a blob before acknowledging it, so "Node upload + fsync" is the like-for-like limit and "Node upload" the runtime\'s bare limit.',
    '- The machine may be shared. During every sample the harness measures the CPU used by processes outside the benchmark (machine busy time minus the harness, wrk and every server it started); a sample of at least 0.5 s during which that exceeded 20 % of the machine is discarded and retaken after a pause (at most three times per sample and eight minutes per run). The share is listed per sample in the raw data.',
    `- Authenticated pulls: a second Berth and Distribution, each with \`auth.htpasswd\` pointing at the same file (one user, a bcrypt \`$2y$\` hash of cost 5, what \`htpasswd -Bbn\` writes), holding the same image; \`wrk -t${s.wrkThreads} -c${s.connections} -d${s.wrkSeconds}s\` GETs the manifest by tag with the Basic credentials on every request (a wrong password is first checked to get 401). The reference is the rate of bcrypt verifications one Node thread can do (bcryptjs, cost 5): what a registry that verified bcrypt on every request could at most answer per core. Berth verifies a credential once and then answers from its cache of verified credentials (keyed by a hash, short TTL, dropped when the file changes).`,
    `- Proxy (issue 11): Berth and Distribution both with registry:2's \`proxy: {remoteurl}\` (the whole registry a pull-through cache, the setup both have; Berth's \`revalidate\` at its default 5m) in front of one upstream, a Distribution on loopback holding one image (a ${s.proxyLayerMiB} MiB layer), reached through an in-process TCP relay that counts the bytes the upstream sends (response headers included). A pull is manifest by tag, config, layer in sequence; every cold sample starts the proxy afresh on empty storage. Time to first byte is that of the cold layer (its manifest already fetched). The references are the same pull from the upstream through the relay, the same pull from a hosted Berth repository, and wrk on that hosted manifest.`,
    `- Search and UI (issue 12, Berth only): ${s.searchRepositories} repositories × ${s.searchTagsPerRepository} tags written through the build's own SQLite metadata store before the server starts (the seed image's manifests pushed over HTTP first); \`/v1/search\` under wrk; each UI page's time is the median over ${s.searchPageRequests} sequential requests on one keep-alive connection, served to a loopback client of a registry without access control (no login).`,
    `- Scale-out (issue 14): one Ceph (one monitor, one memstore OSD, one RADOS Gateway, cephx off) and one PostgreSQL 15 started for these rows, a bucket for each registry. Both get registry:2's \`storage.s3\` (same region, endpoint, keys, \`forcepathstyle\`, \`rootdirectory\`, \`chunksize\` 10 MiB) with \`storage.redirect.disable: true\`; Berth adds GitLab's \`database\` keys and runs ${REPLICAS} replicas on one bucket and database (the first is the single-server subject of the push, pull and catalog rows), plus a fourth replica with redirects on for the CPU row. Pushes of ${s.s3BlobMiB} MiB (chunked: ${s.s3ChunkMiB} MiB PATCHes); after each sample the bench deletes the bucket's objects of 1 MiB and more except the pulled blob, so the memstore OSD does not fill. Redirect CPU: ${s.s3RedirectPulls} pulls per sample, the client following the 307 to the presigned RGW URL, against the same pulls served by a replica with redirects disabled; CPU is the server's on-CPU time from /proc/<pid>/task/*/schedstat per GiB. Manifest GET: one \`wrk -t1\` per replica at once, the ${s.connections} connections split evenly, straight to the replicas' ports (no load balancer in the path), against one wrk on Distribution and on one replica alone. Catalog: ${s.s3CatalogRepos} repositories seeded into both at once over the HTTP API (each two cross-repository mounts and a tagged manifest, ${s.s3SeedConcurrency} at a time per registry, spread over Berth's replicas), then \`/v2/_catalog?n=${s.s3CatalogPage}\` walked to the end.`,
    '- Metrics and webhooks (issue 13): manifest GET (wrk) and blob HEAD with `http.debug.prometheus.enabled: true` on a loopback debug address, for Berth and Distribution, against the same Berth without `http.debug`; image pushes (config, 4 KiB layer, tagged manifest) with one `notifications.endpoints` entry pointing at a Node receiver on loopback that answers 200, against the same Berth without `notifications`.',
    '',
  );

  push(
    '## Raw data',
    '',
    `Values in the order they were taken (repetition 1 first), the server's CPU seconds for each (user + system, where the PID is the process doing the work), and the share of the machine's CPU that processes outside the benchmark used during each sample. ${results.retakes} sample${results.retakes === 1 ? ' was' : 's were'} discarded and retaken because more than 20 % of the machine was busy elsewhere.`,
    '',
  );
  push('| Metric | Subject | Values | Server CPU s | Busy elsewhere |', '| --- | --- | --- | --- | --- |');
  for (const metric of [...results.metrics, ...results.references]) {
    for (const [subject, samples] of Object.entries(metric.samples)) {
      const cpu = samples.some((sample) => sample.cpuSeconds !== undefined) ? samples.map((sample) => (sample.cpuSeconds === undefined ? '—' : sample.cpuSeconds.toFixed(2))).join(', ') : '—';
      const foreign = samples.some((sample) => sample.foreignCpuShare !== undefined)
        ? samples.map((sample) => (sample.foreignCpuShare === undefined ? '—' : `${Math.round(sample.foreignCpuShare * 100)}%`)).join(', ')
        : '—';
      push(`| ${metric.title} (${metric.unit}) | ${subject} | ${samples.map((sample) => format(sample.value)).join(', ')} | ${cpu} | ${foreign} |`);
    }
    if (metric.note) push(`| ${metric.title} | note | ${metric.note.replace(/\|/g, '/')} | | |`);
  }
  push('', '<details><summary>Settings</summary>', '', '```json', JSON.stringify(results.settings, null, 2), '```', '', '</details>', '');
  return lines.join('\n');
}
