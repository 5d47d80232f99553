import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../oci/digest.js';
import { isRepositoryName, isTag, type RepositoryName, type Tag } from '../oci/names.js';

/**
 * The keys of a registry:2 (CNCF Distribution 2.x) filesystem tree, for adopting one that sits
 * in Berth's storage root. Built here only, from parsed names, tags and digests, so a key can
 * never leave the tree:
 *
 *   <root>/docker/registry/v2/
 *   ├── blobs/<alg>/<hex[0:2]>/<hex>/data                    content (layers, configs, manifests)
 *   └── repositories/<name>/                                 <name> may span several directories
 *       ├── _layers/<alg>/<hex>/link                         blob visible in the repository
 *       ├── _manifests/revisions/<alg>/<hex>/link            manifest stored in the repository
 *       ├── _manifests/tags/<tag>/current/link               what the tag points at (absent: deleted)
 *       ├── _manifests/tags/<tag>/index/<alg>/<hex>/link     the tag's history (not imported)
 *       └── _uploads/<id>/…                                  unfinished uploads (not imported)
 *
 * A link file holds a digest as text. registry:2 deletes a manifest by removing its revision
 * link and a tag by removing its directory, so what it serves is exactly what has a link file.
 */
const ROOT = 'docker/registry/v2';
const REPOSITORIES = `${ROOT}/repositories/`;

export type Registry2Entry =
  | { kind: 'layer'; repository: RepositoryName; digest: Digest }
  | { kind: 'revision'; repository: RepositoryName; digest: Digest }
  | { kind: 'tag'; repository: RepositoryName; tag: Tag }
  /** A link file whose repository name, tag or digest Berth cannot accept. */
  | { kind: 'invalid'; key: string; reason: string };

export const registry2Layout = {
  repositoriesPrefix(): string {
    return REPOSITORIES;
  },
  blobData(digest: Digest): string {
    const hex = digestHex(digest);
    return `${ROOT}/blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}/data`;
  },
  layerLink(repository: RepositoryName, digest: Digest): string {
    return `${REPOSITORIES}${repository}/_layers/${digestAlgorithm(digest)}/${digestHex(digest)}/link`;
  },
  revisionLink(repository: RepositoryName, digest: Digest): string {
    return `${REPOSITORIES}${repository}/_manifests/revisions/${digestAlgorithm(digest)}/${digestHex(digest)}/link`;
  },
  tagLink(repository: RepositoryName, tag: Tag): string {
    return `${REPOSITORIES}${repository}/_manifests/tags/${tag}/current/link`;
  },

  /**
   * What a key listed under `repositoriesPrefix()` is: a layer, revision or current-tag link,
   * an invalid one, or undefined for anything else (uploads, tag history). A recognised key is
   * rebuilt from its parsed parts and must come out the same.
   */
  entry(key: string): Registry2Entry | undefined {
    if (!key.startsWith(REPOSITORIES) || !key.endsWith('/link')) return undefined;
    const parts = key.slice(REPOSITORIES.length).split('/');
    // Name components never start with "_", so the first one that does ends the name.
    const split = parts.findIndex((part) => part.startsWith('_'));
    if (split <= 0) return undefined;
    const name = parts.slice(0, split).join('/');
    const rest = parts.slice(split);
    const shape = rest.join('/');
    const isLayer = /^_layers\/[^/]+\/[^/]+\/link$/.test(shape);
    const isRevision = /^_manifests\/revisions\/[^/]+\/[^/]+\/link$/.test(shape);
    const isTagLink = /^_manifests\/tags\/[^/]+\/current\/link$/.test(shape);
    if (!isLayer && !isRevision && !isTagLink) return undefined;
    if (!isRepositoryName(name)) return { kind: 'invalid', key, reason: `"${name}" is not a valid repository name` };
    const repository = name;

    if (isTagLink) {
      const tag = rest[2]!;
      if (!isTag(tag)) return { kind: 'invalid', key, reason: `"${tag}" is not a valid tag` };
      return this.tagLink(repository, tag) === key ? { kind: 'tag', repository, tag } : undefined;
    }
    const [algorithm, hex] = isLayer ? [rest[1]!, rest[2]!] : [rest[2]!, rest[3]!];
    let digest: Digest;
    try {
      digest = parseDigest(`${algorithm}:${hex}`);
    } catch {
      return { kind: 'invalid', key, reason: `"${algorithm}:${hex}" is not a supported digest` };
    }
    if (isLayer) return this.layerLink(repository, digest) === key ? { kind: 'layer', repository, digest } : undefined;
    return this.revisionLink(repository, digest) === key ? { kind: 'revision', repository, digest } : undefined;
  },
} as const;
