import type { Digest } from '../oci/digest.js';
import type { ParsedManifest } from '../oci/manifest.js';
import type { RepositoryName } from '../oci/names.js';
import type { NewManifest } from '../metadata/store.js';
import type { ManifestFacts } from './image-description.js';

/** What the metadata store records for a parsed manifest: one shape for pushes and imports. */
export function manifestEntry(repository: RepositoryName, digest: Digest, size: number, parsed: ParsedManifest, facts?: ManifestFacts): NewManifest {
  return {
    repository,
    manifest: {
      digest,
      mediaType: parsed.mediaType,
      size,
      artifactType: parsed.artifactType,
      annotations: parsed.annotations,
      subject: parsed.subject?.digest,
      description: facts?.description,
      platforms: facts?.platforms,
    },
    blobReferences: parsed.blobs.map((descriptor) => descriptor.digest),
    manifestReferences: parsed.manifests.map((descriptor) => descriptor.digest),
  };
}
