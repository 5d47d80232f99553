import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInProcess } from '../support/in-process.js';
import { OciClient, sha256 } from '../support/oci-client.js';

/**
 * Several clients push and delete overlapping images (shared layers) while garbage
 * collection runs again and again. Bounded: 4 clients × 12 rounds, GC every ~20 ms.
 */
const CLIENTS = 4;
const ROUNDS = 12;
const SHARED_LAYERS = ['shared-base-layer', 'shared-runtime-layer', 'shared-tools-layer'];

interface PushedImage {
  repository: string;
  tag: string;
  digest: string;
  body: Buffer;
  blobs: string[];
}

async function storedDigests(dataDir: string): Promise<Set<string>> {
  const root = join(dataDir, 'storage', 'v1', 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return new Set(entries.filter((entry) => entry.isFile()).map((entry) => `${entry.parentPath.split('/').at(-2)}:${entry.name}`));
}

describe('garbage collection under concurrent pushes and deletes', () => {
  it('when clients push and delete overlapping images while GC runs repeatedly, then every kept image pulls byte-for-byte and nothing unreferenced remains', async () => {
    const registry = await startInProcess();
    const client = new OciClient(registry.url);
    const kept: PushedImage[] = [];
    const deleted: PushedImage[] = [];
    let collections = 0;
    let stop = false;
    try {
      const collector = (async () => {
        while (!stop) {
          await registry.app.collector.collect({ dryRun: false, deleteUntagged: true, graceMs: 10_000 });
          collections += 1;
          await sleep(20);
        }
      })();

      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, clientIndex) => {
          const repository = `stress/${clientIndex % 2 === 0 ? 'even' : 'odd'}`;
          const mine: PushedImage[] = [];
          for (let round = 0; round < ROUNDS; round += 1) {
            const layers = [SHARED_LAYERS[(clientIndex + round) % SHARED_LAYERS.length]!, `unique-${clientIndex}-${round}-${'x'.repeat(round * 100)}`];
            const tag = `c${clientIndex}-r${round}`;
            const pushed = await client.pushImage(repository, tag, layers);
            const config = (pushed.manifest.config as { digest: string }).digest;
            mine.push({ repository, tag, digest: pushed.digest, body: pushed.body, blobs: [config, ...layers.map((layer) => sha256(layer))] });
            if (round % 3 === 2) {
              const victim = mine.splice(round % mine.length, 1)[0]!;
              const response = await client.request(`/v2/${victim.repository}/manifests/${victim.digest}`, { method: 'DELETE' });
              // Another client may share the same manifest bytes only if layers matched, which they never do here.
              assert.equal(response.status, 202);
              deleted.push(victim);
            }
          }
          kept.push(...mine);
        }),
      );
      stop = true;
      await collector;
      assert.ok(collections >= 3, `GC ran ${collections} times during the pushes`);

      for (const image of kept) {
        const manifest = await client.request(`/v2/${image.repository}/manifests/${image.tag}`);
        assert.equal(manifest.status, 200, `${image.repository}:${image.tag}`);
        assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(image.body));
        for (const digest of image.blobs) {
          const blob = await client.request(`/v2/${image.repository}/blobs/${digest}`);
          assert.equal(blob.status, 200, `${image.repository}:${image.tag} ${digest}`);
          assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
        }
      }

      const report = await registry.app.collector.collect({ dryRun: false, deleteUntagged: true, graceMs: 0 });
      assert.ok(report.blobs.length > 0, 'the final collection reclaimed what the deletes left');
      const referenced = new Set(kept.flatMap((image) => [image.digest, ...image.blobs]));
      assert.deepEqual([...(await storedDigests(registry.dataDir))].sort(), [...referenced].sort());
      for (const image of deleted) {
        assert.equal((await client.request(`/v2/${image.repository}/manifests/${image.digest}`)).status, 404);
      }
    } finally {
      stop = true;
      await registry.destroy();
    }
  });
});
