import { RegistryError } from './errors.js';
import { parseDigest, type Digest } from './digest.js';
import { MediaType, SUPPORTED_MANIFEST_MEDIA_TYPES, isForeignLayer, manifestKind, type ManifestKind } from './media-types.js';

/**
 * Manifest validation: what a pushed manifest must look like, and what it points at.
 * Pure: it reads the bytes a client sent and answers with the references the caller must
 * check exist, never touching storage.
 */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ParsedManifest {
  mediaType: string;
  kind: ManifestKind;
  /** Blobs that must be in the repository (config and layers; foreign layers excluded). */
  blobs: Descriptor[];
  /** Manifests that must be in the repository (an index's entries). */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** `artifactType`, or an image's config media type, as the referrers API reports it. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(document)) throw invalid('manifest must be a JSON object');

  const declared = document.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  if (declared === MediaType.DockerSchema1 || declared === MediaType.DockerSchema1Signed || contentType === MediaType.DockerSchema1Signed || contentType === MediaType.DockerSchema1) {
    throw invalid('Docker schema 1 manifests are not supported: push schema 2 or OCI manifests');
  }
  if (declared !== undefined && contentType !== undefined && declared !== contentType) {
    throw invalid(`manifest mediaType "${declared}" does not match Content-Type "${contentType}"`);
  }
  const mediaType = declared ?? contentType ?? guessMediaType(document);
  const kind = mediaType ? manifestKind(mediaType) : undefined;
  if (!mediaType || !kind) {
    throw invalid(`unsupported manifest media type "${mediaType ?? ''}": expected one of ${SUPPORTED_MANIFEST_MEDIA_TYPES.join(', ')}`);
  }
  if (document.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const artifactType = optionalString(document, 'artifactType');
  const annotations = optionalAnnotations(document.annotations, 'annotations');
  const subject = document.subject === undefined ? undefined : descriptor(document.subject, 'subject');

  if (kind === 'image') {
    const config = descriptor(document.config, 'config');
    if (!Array.isArray(document.layers)) throw invalid('layers must be an array');
    const layers = document.layers.map((layer, index) => descriptor(layer, `layers[${index}]`));
    return {
      mediaType,
      kind,
      blobs: [config, ...layers.filter((layer) => !isForeignLayer(layer.mediaType))],
      manifests: [],
      subject,
      artifactType: artifactType ?? config.mediaType,
      annotations,
    };
  }

  if (!Array.isArray(document.manifests)) throw invalid('manifests must be an array');
  const manifests = document.manifests.map((entry, index) => descriptor(entry, `manifests[${index}]`));
  return { mediaType, kind, blobs: [], manifests, subject, artifactType, annotations };
}

function guessMediaType(document: Record<string, unknown>): string | undefined {
  if (Array.isArray(document.manifests)) return MediaType.OciIndex;
  if (isObject(document.config)) return MediaType.OciManifest;
  return undefined;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const mediaType = value.mediaType;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof value.digest !== 'string') throw invalid(`${where}.digest must be a string`);
  let digest: Digest;
  try {
    digest = parseDigest(value.digest);
  } catch (error) {
    throw invalid(`${where}.digest: ${(error as Error).message}`);
  }
  const size = value.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const result: Descriptor = { mediaType, digest, size };
  const artifactType = optionalString(value, 'artifactType', where);
  if (artifactType !== undefined) result.artifactType = artifactType;
  const annotations = optionalAnnotations(value.annotations, `${where}.annotations`);
  if (annotations !== undefined) result.annotations = annotations;
  return result;
}

function optionalString(object: Record<string, unknown>, key: string, where?: string): string | undefined {
  const value = object[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where ? `${where}.` : ''}${key} must be a string`);
  return value;
}

function optionalAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((entry) => typeof entry === 'string')) {
    throw invalid(`${where} must be a map of strings`);
  }
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}
