import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setImmediate as yieldToPushes } from 'node:timers/promises';
import { startInProcess } from '../support/in-process.js';
import { OciClient, sha256 } from '../support/oci-client.js';
import { blobTree } from './fuzz-audit.js';

/**
 * Several clients push and delete overlapping images while garbage collection runs again and
 * again with a one-hour grace period — so only the touch rule protects anything. Pushes work as
 * docker's do: HEAD each blob in the target repository, upload only what is missing, then PUT
 * the manifest. Each client's doomed images share a layer that every delete releases and the
 * next push HEADs and reuses, while collections remove what is released. Bounded: 4 clients ×
 * 12 rounds.
 */
const CLIENTS = 4;
const ROUNDS = 12;
const HOUR = 60 * 60_000;
const SHARED_LAYERS = ['shared-base-layer', 'shared-runtime-layer', 'shared-tools-layer'];

/** docker's order: HEAD every blob, upload the missing ones, then the manifest (which must be accepted). */
async function pushReusing(client: OciClient, repository: string, tag: string, layers: string[]): Promise<{ digest: string; body: Buffer; blobs: string[] }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const blobs = [config, ...layers.map((layer) => Buffer.from(layer))];
  for (const blob of blobs) {
    const head = await client.request(`/v2/${repository}/blobs/${sha256(blob)}`, { method: 'HEAD' });
    if (head.status !== 200) await client.pushBlob(repository, blob);
  }
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: Buffer.byteLength(layer) })),
  }));
  const response = await client.putManifest(repository, tag, body, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(response.status, 201, `${repository}:${tag}: a blob that answered HEAD 200 must still be there: ${await response.text()}`);
  return { digest: sha256(body), body, blobs: blobs.map((blob) => sha256(blob)) };
}

interface PushedImage {
  repository: string;
  tag: string;
  digest: string;
  body: Buffer;
  blobs: string[];
}

/** Blobs stored as files or in their database rows. */
async function storedDigests(dataDir: string): Promise<Set<string>> {
  return new Set((await blobTree(join(dataDir, 'storage'))).map((blob) => blob.digest));
}

describe('garbage collection under concurrent pushes and deletes', () => {
  it('when clients push and delete overlapping images while GC runs repeatedly, then every kept image pulls byte-for-byte and nothing unreferenced remains', async () => {
    const registry = await startInProcess();
    const client = new OciClient(registry.url);
    const kept: PushedImage[] = [];
    const deleted: PushedImage[] = [];
    let collections = 0;
    let freedDuringPushes = 0;
    let stop = false;
    try {
      const collector = (async () => {
        while (!stop) {
          const report = await registry.app.collector.collect({ dryRun: false, deleteUntagged: true, graceMs: HOUR });
          freedDuringPushes += report.removed.blobs;
          collections += 1;
          await yieldToPushes();
        }
      })();

      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, clientIndex) => {
          const repository = `stress/c${clientIndex}`;
          // Doomed images share one layer, released by each delete and HEADed by the next push.
          const released = `released-${clientIndex}-${'r'.repeat(clientIndex * 64)}`;
          for (let round = 0; round < ROUNDS; round += 1) {
            const doomed = round % 3 !== 2;
            const unique = `unique-${clientIndex}-${round}-${'x'.repeat(round * 100)}`;
            const layers = doomed ? [released, unique] : [SHARED_LAYERS[(clientIndex + round) % SHARED_LAYERS.length]!, unique];
            const tag = `c${clientIndex}-r${round}`;
            const image = { repository, tag, ...(await pushReusing(client, repository, tag, layers)) };
            if (!doomed) {
              kept.push(image);
              continue;
            }
            const response = await client.request(`/v2/${repository}/manifests/${image.digest}`, { method: 'DELETE' });
            assert.equal(response.status, 202);
            deleted.push(image);
          }
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
      assert.ok(freedDuringPushes + report.removed.blobs > 0, 'collections reclaimed what the deletes left');
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
