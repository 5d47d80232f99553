import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';

/**
 * Builds small, real container images as an OCI image layout directory — no Docker engine.
 *
 *   <dir>/oci-layout          {"imageLayoutVersion":"1.0.0"}
 *   <dir>/index.json          one entry per tag (org.opencontainers.image.ref.name)
 *   <dir>/blobs/sha256/<hex>  layers (gzip of a real tar made by the system `tar`), configs, manifests, indexes
 *
 * Every digest the tests later compare against is computed here, from the bytes written.
 */

const run = promisify(execFile);

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const REF_NAME = 'org.opencontainers.image.ref.name';

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The digest of the uncompressed content of a gzip blob: a layer's diff_id. */
export function diffIdOf(gzipped: Buffer): string {
  return sha256(gunzipSync(gzipped));
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One file in a layer; directories on its path are created. */
export interface LayerFile {
  path: string;
  content: string | Buffer;
  mode?: number;
}

export interface ImageSpec {
  platform: Platform;
  /** Each layer is a list of files; order is bottom to top. */
  layers: LayerFile[][];
  cmd?: string[];
  env?: string[];
}

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface BuiltLayer {
  /** Digest of the gzip blob as stored. */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar. */
  diffId: string;
}

export interface BuiltImage {
  platform: Platform;
  manifest: Blob;
  config: Blob;
  layers: BuiltLayer[];
}

export interface BuiltIndex {
  index: Blob;
  images: BuiltImage[];
}

/** An OCI image layout being written; `ref(tag)` names an entry for skopeo/podman (`oci:<dir>:<tag>`). */
export class OciLayout {
  private readonly entries: Record<string, unknown>[] = [];

  private constructor(readonly dir: string) {}

  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const layout = new OciLayout(dir);
    await layout.writeIndexJson();
    return layout;
  }

  ref(tag: string): string {
    return `oci:${this.dir}:${tag}`;
  }

  /** Writes one single-platform image and tags it. */
  async addImage(tag: string, spec: ImageSpec): Promise<BuiltImage> {
    const image = await this.writeImage(spec);
    await this.tag(tag, { mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.size });
    return image;
  }

  /** Writes one image per spec, then an image index over them, and tags the index. */
  async addIndex(tag: string, specs: ImageSpec[]): Promise<BuiltIndex> {
    const images: BuiltImage[] = [];
    for (const spec of specs) images.push(await this.writeImage(spec));
    const index = await this.writeBlob(
      json({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: images.map((image) => ({
          mediaType: OCI_MANIFEST,
          digest: image.manifest.digest,
          size: image.manifest.size,
          platform: image.platform,
        })),
      }),
    );
    await this.tag(tag, { mediaType: OCI_INDEX, digest: index.digest, size: index.size });
    return { index, images };
  }

  private async writeImage(spec: ImageSpec): Promise<BuiltImage> {
    const layers: BuiltLayer[] = [];
    for (const files of spec.layers) {
      const tar = await makeTar(files);
      const gzipped = gzipSync(tar);
      const blob = await this.writeBlob(gzipped);
      layers.push({ digest: blob.digest, size: blob.size, diffId: sha256(tar) });
    }
    const config = await this.writeBlob(
      json({
        created: '1970-01-01T00:00:00Z',
        ...spec.platform,
        config: { Env: spec.env ?? ['PATH=/bin'], Cmd: spec.cmd ?? ['/bin/true'] },
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
        history: layers.map((_, position) => ({ created: '1970-01-01T00:00:00Z', created_by: `berth test layer ${position}` })),
      }),
    );
    const manifest = await this.writeBlob(
      json({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
        layers: layers.map((layer) => ({ mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: layer.size })),
      }),
    );
    return { platform: spec.platform, manifest, config, layers };
  }

  private async writeBlob(bytes: Buffer): Promise<Blob> {
    const digest = sha256(bytes);
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
    return { digest, size: bytes.length, bytes };
  }

  private async tag(tag: string, descriptor: Record<string, unknown>): Promise<void> {
    this.entries.push({ ...descriptor, annotations: { [REF_NAME]: tag } });
    await this.writeIndexJson();
  }

  private writeIndexJson(): Promise<void> {
    return writeFile(join(this.dir, 'index.json'), json({ schemaVersion: 2, manifests: this.entries }));
  }
}

/** A small image for `platform`: a base layer (same bytes on every platform) and one that names the platform. */
export function sampleImage(platform: Platform, label = 'sample'): ImageSpec {
  const name = `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
  return {
    platform,
    layers: [
      [
        { path: 'etc/os-release', content: 'NAME="Berth test image"\nID=berth-test\n' },
        { path: 'bin/hello', content: '#!/bin/sh\necho hello from berth\n', mode: 0o755 },
        // incompressible bytes: the base layer is larger than the blobs kept in database rows
        // (INLINE_BLOB_MAX_BYTES), so it is a file in storage like a real layer; the other is not
        { path: 'usr/share/berth/noise.bin', content: pseudoRandom(`${label}-base`, 48 * 1024) },
      ],
      [
        { path: 'etc/berth/platform', content: `${name}\n` },
        { path: 'etc/berth/label', content: `${label}\n` },
      ],
    ],
    cmd: ['/bin/hello'],
  };
}

/** Deterministic bytes that do not compress (a hash chain). */
function pseudoRandom(seed: string, size: number): Buffer {
  const chunks: Buffer[] = [];
  let state = createHash('sha256').update(seed).digest();
  for (let length = 0; length < size; length += state.length) {
    state = createHash('sha256').update(state).digest();
    chunks.push(state);
  }
  return Buffer.concat(chunks).subarray(0, size);
}

/** A reproducible tar made by the system `tar` (GNU tar): sorted names, epoch mtimes, root owner. */
async function makeTar(files: LayerFile[]): Promise<Buffer> {
  const root = await mkdtemp(join(tmpdir(), 'berth-layer-'));
  try {
    await chmod(root, 0o755);
    for (const file of files) {
      const target = join(root, file.path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content);
      await chmod(target, file.mode ?? 0o644);
    }
    const { stdout } = await run(
      'tar',
      ['--create', '--file=-', '--format=gnu', '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--directory', root, '.'],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
