import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
/** Installing compiles better-sqlite3 from source here (about 3.5 min on 2 shared cores). */
const INSTALL_TIMEOUT_MS = 9 * 60_000;

describe('npm pack', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('when the packed tarball is installed into an empty directory, then `berth serve` runs from it', { timeout: INSTALL_TIMEOUT_MS + 120_000 }, async () => {
    const packed = await mkdtemp(join(tmpdir(), 'berth-pack-'));
    const target = await mkdtemp(join(tmpdir(), 'berth-install-'));
    dirs.push(packed, target);
    await run('npm', ['pack', '--silent', '--pack-destination', packed], { cwd: ROOT, timeout: 180_000 });
    const [tarball] = (await readdir(packed)).filter((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    const listing = (await run('tar', ['tzf', join(packed, tarball)])).stdout.split('\n');
    assert.ok(listing.includes('package/dist/cli/main.cjs'));
    assert.ok(!listing.some((path) => path.startsWith('package/src/') || path.startsWith('package/test/')), 'sources and tests stay out');

    // Dependencies come from the npm registry (or npm's cache); nothing from this worktree.
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(packed, tarball)], { cwd: target, timeout: INSTALL_TIMEOUT_MS });

    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('REGISTRY_') && value !== undefined) env[name] = value;
    const child = spawn(join(target, 'node_modules/.bin/berth'), ['serve'], {
      cwd: target,
      env: { ...env, REGISTRY_HTTP_ADDR: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        let output = '';
        child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const timer = setTimeout(() => reject(new Error(`not listening within 20 s:\n${output}`)), 20_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          output += `${line}\n`;
          try {
            const entry = JSON.parse(line) as { url?: string; msg?: string };
            if (entry.url && entry.msg?.startsWith('listening')) {
              clearTimeout(timer);
              resolveUrl(entry.url);
            }
          } catch {
            // not a log line
          }
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
      });
      assert.equal((await fetch(`${url}/v2/`)).status, 200);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
      assert.equal(await exited, 0);
    }
  });
});
