import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { diffIdOf, sha256, type OciLayout, type Platform } from '../support/images.js';

/**
 * Real registry clients behind one small interface, so each scenario is written once and run
 * with every client. A client that lacks an operation leaves it undefined; the scenario says
 * what it does instead.
 */

const run = promisify(execFile);

export type ManifestFormat = 'oci' | 'v2s2';

export interface PushOptions {
  format: ManifestFormat;
}

export interface CopyOptions {
  /** The source is an index: copy it and every child. */
  all?: boolean;
}

/** What a client reports about one image it pulled — every value measured or verified by the client side. */
export interface PulledImage {
  /** Digest of the image manifest that was pulled. */
  manifestDigest: string;
  /** Digest of the index the image was selected from, when the client records it. */
  indexDigest?: string;
  mediaType: string;
  configDigest: string;
  /** Digests of the uncompressed layers, bottom to top. */
  diffIds: string[];
  /** Digests of the layer blobs as received, bottom to top. */
  layerDigests: string[];
}

/** A manifest read from the registry by a client, with its digest computed here from the bytes. */
export interface InspectedManifest {
  digest: string;
  mediaType: string;
  manifest: ManifestJson;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

export interface RegistryClient {
  readonly name: string;
  /**
   * True when pushing keeps the bytes the test wrote: the same manifest digest (when the format is
   * unchanged) and the same compressed layer blobs. skopeo copies blob for blob; podman unpacks
   * images into its store and writes manifests (and, unless it can reuse a known blob, layers) anew.
   */
  readonly keepsBytes: boolean;
  /** Pushes one tagged image of the layout to `dest` (host/repo:tag); returns the manifest digest the client wrote. */
  push(layout: OciLayout, tag: string, dest: string, options: PushOptions): Promise<string>;
  /** Pushes a tagged index of the layout with all its children; returns the index digest the client wrote. */
  pushIndex(layout: OciLayout, tag: string, dest: string, options: PushOptions): Promise<string>;
  /** Copies between two references on registries; returns the digest written at `to`. */
  copy(from: string, to: string, options?: CopyOptions): Promise<string>;
  /** Pulls `ref` (choosing `platform` when it names an index). */
  pull(ref: string, platform?: Platform): Promise<PulledImage>;
  listTags(repository: string): Promise<string[]>;
  inspect?(ref: string): Promise<InspectedManifest>;
  delete?(ref: string): Promise<void>;
}

/** Runs a client command; a failure carries the command line and what the client printed. */
async function exec(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run(command, args, { maxBuffer: 16 * 1024 * 1024, timeout: 60_000, env: env ?? process.env });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; code?: number | string };
    throw new Error(`${command} ${args.join(' ')} failed (${failure.code}): ${failure.stderr ?? ''}${failure.stdout ?? ''}`.trim());
  }
}

function platformArgs(platform: Platform | undefined, style: 'skopeo' | 'podman'): string[] {
  if (!platform) return [];
  if (style === 'podman') return ['--platform', [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/')];
  return [
    '--override-os', platform.os,
    '--override-arch', platform.architecture,
    ...(platform.variant ? ['--override-variant', platform.variant] : []),
  ];
}

/** skopeo: copies between transports blob for blob; talks to the registry over plain HTTP on loopback. */
export class Skopeo implements RegistryClient {
  readonly name = 'skopeo';
  readonly keepsBytes = true;
  private sequence = 0;

  /** `workDir` holds digest files and pulled images. */
  constructor(private readonly workDir: string) {}

  async push(layout: OciLayout, tag: string, dest: string, options: PushOptions): Promise<string> {
    return this.copyRefs(layout.ref(tag), `docker://${dest}`, ['--dest-tls-verify=false', '--format', options.format]);
  }

  async pushIndex(layout: OciLayout, tag: string, dest: string, options: PushOptions): Promise<string> {
    return this.copyRefs(layout.ref(tag), `docker://${dest}`, ['--all', '--dest-tls-verify=false', '--format', options.format]);
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<string> {
    return this.copyRefs(`docker://${from}`, `docker://${to}`, ['--src-tls-verify=false', '--dest-tls-verify=false', ...(options.all ? ['--all'] : [])]);
  }

  /** Pulls into a `dir:` directory, which keeps the manifest and blobs exactly as received; digests are computed here. */
  async pull(ref: string, platform?: Platform): Promise<PulledImage> {
    const dir = await this.scratch('pull');
    await exec('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ...platformArgs(platform, 'skopeo'), `docker://${ref}`, `dir:${dir}`]);
    const manifestBytes = await readFile(join(dir, 'manifest.json'));
    const manifest = JSON.parse(manifestBytes.toString()) as ManifestJson;
    const blob = (digest: string) => readFile(join(dir, digest.slice('sha256:'.length)));
    const config = await blob(manifest.config!.digest);
    const layers = await Promise.all((manifest.layers ?? []).map((layer) => blob(layer.digest)));
    return {
      manifestDigest: sha256(manifestBytes),
      mediaType: manifest.mediaType ?? '',
      configDigest: sha256(config),
      diffIds: layers.map(diffIdOf),
      layerDigests: layers.map((layer) => sha256(layer)),
    };
  }

  async inspect(ref: string): Promise<InspectedManifest> {
    const raw = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
    const manifest = JSON.parse(raw) as ManifestJson;
    return { digest: sha256(raw), mediaType: manifest.mediaType ?? '', manifest };
  }

  async listTags(repository: string): Promise<string[]> {
    const output = await exec('skopeo', ['list-tags', '--tls-verify=false', `docker://${repository}`]);
    return (JSON.parse(output) as { Tags: string[] }).Tags;
  }

  async delete(ref: string): Promise<void> {
    await exec('skopeo', ['delete', '--tls-verify=false', `docker://${ref}`]);
  }

  private async copyRefs(from: string, to: string, flags: string[]): Promise<string> {
    const digestFile = join(await this.scratch('digest'), 'digest');
    await exec('skopeo', ['copy', '--quiet', ...flags, '--digestfile', digestFile, from, to]);
    return (await readFile(digestFile, 'utf8')).trim();
  }

  private async scratch(kind: string): Promise<string> {
    const dir = join(this.workDir, `${kind}-${++this.sequence}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }
}

interface StoredLayer {
  id: string;
  parent?: string;
  'compressed-diff-digest': string;
  'diff-digest': string;
}

/**
 * The layers in a podman (containers/storage, vfs) store holding one image, bottom to top, as the
 * store recorded them when it unpacked each one.
 */
async function storedLayers(root: string): Promise<StoredLayer[]> {
  const layers = JSON.parse(await readFile(join(root, 'vfs-layers', 'layers.json'), 'utf8')) as StoredLayer[];
  const ordered: StoredLayer[] = [];
  for (let parent: string | undefined = undefined; ; ) {
    const next = layers.find((layer) => layer.parent === parent);
    if (!next) break;
    ordered.push(next);
    parent = next.id;
  }
  return ordered;
}

interface PodmanImage {
  Id: string;
  Digest: string;
  RepoDigests: string[];
  ManifestType: string;
  RootFS: { Layers: string[] };
}

/**
 * podman with a store of its own (vfs driver, root and runroot and libpod tmpdir under `workDir`,
 * no event log), so tests share no state but the containers/image blob-info cache, which podman
 * keeps per user (as root: /var/lib/containers/cache) with no option to move it.
 *
 * podman has no remote inspect that reports a digest (`podman manifest inspect` reads lists only
 * and, in podman 4.3, has no --tls-verify) and cannot delete from a registry: those stay undefined.
 */
export class Podman implements RegistryClient {
  readonly name = 'podman';
  readonly keepsBytes = false;
  private sequence = 0;
  /** `--tls-verify=false` unless the registry's TLS is to be verified (its CA in podman's certs.d). */
  private readonly tlsFlags: string[];

  constructor(
    private readonly workDir: string,
    options: { verifyTls?: boolean } = {},
  ) {
    this.tlsFlags = options.verifyTls ? [] : ['--tls-verify=false'];
  }

  /** podman pushes from its store: import the layout image first (as a podman user would have built it). */
  async push(layout: OciLayout, tag: string, dest: string, options: PushOptions): Promise<string> {
    // `podman pull oci:<path>` names the image after the path, which must then be a valid
    // lower-case repository name (temporary directories are not): pull through a link named so.
    const link = join(tmpdir(), `berth-oci-${randomUUID()}`);
    await symlink(layout.dir, link);
    try {
      const id = (await this.podman(['pull', '--quiet', `oci:${link}:${tag}`])).trim();
      return await this.pushLocal(id, dest, ['--format', options.format]);
    } finally {
      await unlink(link);
    }
  }

  /** A manifest list in the store names the layout's children; `manifest push --all` copies each from the layout. */
  async pushIndex(layout: OciLayout, tag: string, dest: string, options: PushOptions): Promise<string> {
    const list = `localhost/berth-list-${++this.sequence}`;
    await this.podman(['manifest', 'create', list]);
    await this.podman(['manifest', 'add', '--all', list, layout.ref(tag)]);
    return this.pushList(list, dest, ['--format', options.format]);
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<string> {
    if (options.all) {
      const list = `localhost/berth-list-${++this.sequence}`;
      await this.podman(['manifest', 'create', list]);
      await this.podman(['manifest', 'add', '--all', ...this.tlsFlags, list, `docker://${from}`]);
      return this.pushList(list, to, []);
    }
    await this.podman(['pull', '--quiet', ...this.tlsFlags, from]);
    return this.pushLocal(from, to, []);
  }

  /**
   * Pulls into a fresh store (another machine, in effect: nothing can be reused from the store
   * that pushed). podman verifies every blob against the manifest while it unpacks; the layer
   * digests reported are those podman's store recorded for each layer it unpacked: the blob as
   * received (`compressed-diff-digest`) and the tar as applied (`diff-digest`).
   */
  async pull(ref: string, platform?: Platform): Promise<PulledImage> {
    const store = join(this.workDir, `p${++this.sequence}`);
    const id = (await this.podman(['pull', '--quiet', ...this.tlsFlags, ...platformArgs(platform, 'podman'), ref], store)).trim();
    const [image] = JSON.parse(await this.podman(['image', 'inspect', id], store)) as PodmanImage[];
    if (!image) throw new Error(`podman image inspect ${id} returned nothing`);
    // RepoDigests lists, for this repository, the digest the pull named (an index's, when it went
    // through one: that is `Digest`) and the image manifest's own.
    const repository = ref.replace(/[@:][^/]*$/, '');
    const digests = image.RepoDigests.filter((entry) => entry.startsWith(`${repository}@`)).map((entry) => entry.slice(repository.length + 1));
    const own = digests.filter((digest) => digest !== image.Digest);
    const layers = await storedLayers(join(store, 'storage'));
    if (layers.length !== image.RootFS.Layers.length) throw new Error(`podman's store holds ${layers.length} layers; the image has ${image.RootFS.Layers.length}`);
    return {
      manifestDigest: own[0] ?? image.Digest,
      ...(own.length > 0 ? { indexDigest: image.Digest } : {}),
      mediaType: image.ManifestType,
      configDigest: `sha256:${image.Id}`,
      diffIds: layers.map((layer) => layer['diff-digest']),
      layerDigests: layers.map((layer) => layer['compressed-diff-digest']),
    };
  }

  async listTags(repository: string): Promise<string[]> {
    const output = await this.podman(['search', '--list-tags', '--format', 'json', ...this.tlsFlags, repository]);
    const [entry] = JSON.parse(output) as { Name: string; Tags: string[] }[];
    return entry?.Tags ?? [];
  }

  private async pushLocal(image: string, dest: string, flags: string[]): Promise<string> {
    const digestFile = await this.digestFile();
    await this.podman(['push', '--quiet', ...this.tlsFlags, ...flags, '--digestfile', digestFile, image, `docker://${dest}`]);
    return (await readFile(digestFile, 'utf8')).trim();
  }

  private async pushList(list: string, dest: string, flags: string[]): Promise<string> {
    const digestFile = await this.digestFile();
    await this.podman(['manifest', 'push', '--quiet', '--all', ...this.tlsFlags, ...flags, '--digestfile', digestFile, list, `docker://${dest}`]);
    return (await readFile(digestFile, 'utf8')).trim();
  }

  private async digestFile(): Promise<string> {
    const dir = join(this.workDir, 'digests');
    await mkdir(dir, { recursive: true });
    return join(dir, `digest-${++this.sequence}`);
  }

  /** Runs podman against the store under `storeDir` (by default the client's own). */
  private podman(args: string[], storeDir = join(this.workDir, 's')): Promise<string> {
    // podman refuses a runroot longer than 50 characters (it holds sockets): keep paths short.
    if (join(storeDir, 'run').length > 50) throw new Error(`podman runroot ${join(storeDir, 'run')} is longer than 50 characters`);
    const store = [
      '--root', join(storeDir, 'storage'),
      '--runroot', join(storeDir, 'run'),
      '--tmpdir', join(storeDir, 'libpod'),
      '--storage-driver', 'vfs',
      '--events-backend', 'none',
    ];
    // TMPDIR: where podman stages blobs while copying images (default /var/tmp).
    return exec('podman', [...store, ...args], { ...process.env, TMPDIR: this.workDir });
  }
}
