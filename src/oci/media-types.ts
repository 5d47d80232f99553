/** Manifest media types Berth stores and serves. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export type ManifestKind = 'image' | 'index';

const KIND_BY_MEDIA_TYPE: Record<string, ManifestKind> = {
  [MediaType.OciManifest]: 'image',
  [MediaType.DockerManifest]: 'image',
  [MediaType.OciIndex]: 'index',
  [MediaType.DockerManifestList]: 'index',
};

export function manifestKind(mediaType: string): ManifestKind | undefined {
  return KIND_BY_MEDIA_TYPE[mediaType];
}

export const SUPPORTED_MANIFEST_MEDIA_TYPES = Object.keys(KIND_BY_MEDIA_TYPE);

/** Layers a registry need not hold (they carry `urls` and live elsewhere). */
export function isForeignLayer(mediaType: string): boolean {
  return (
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' ||
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.')
  );
}

/** Strips parameters (`; charset=…`) and case from a Content-Type value. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const bare = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return bare === '' ? undefined : bare;
}
