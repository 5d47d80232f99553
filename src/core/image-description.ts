import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { ParsedManifest } from '../oci/manifest.js';
import { readUpTo } from './text.js';

/** The OCI annotation (and, by convention, config label) that describes an image. */
export const DESCRIPTION_KEY = 'org.opencontainers.image.description';
/** A config blob larger than this is not read for its labels (real ones are a few KiB). */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface DescriptionSources {
  /** Opens a stored blob (an image's config); undefined when it is not there. */
  openBlob(digest: Digest): Promise<Readable | undefined>;
  /** The description recorded for a child manifest of an index, if any. */
  childDescription(digest: Digest): Promise<string | undefined>;
}

/** What is recorded about a manifest when it is stored, for search and the UI's tag lists. */
export interface ManifestFacts {
  description?: string;
  /** `os/architecture[/variant]`: an image's own (from its config), an index's children's. */
  platforms: string[];
}

interface PlatformFields {
  os?: unknown;
  architecture?: unknown;
  variant?: unknown;
}

/**
 * The description is the manifest's own `org.opencontainers.image.description` annotation;
 * else, for an image, the same label in its config (what `LABEL` in a Dockerfile writes); else,
 * for an index, the first child that has one. The platforms come from an image's config and
 * from an index's entries (attestations, `unknown/unknown`, left out).
 */
export async function manifestFacts(parsed: ParsedManifest, body: Buffer, sources: DescriptionSources): Promise<ManifestFacts> {
  const annotated = nonEmpty(parsed.annotations?.[DESCRIPTION_KEY]);
  if (parsed.kind === 'image') {
    const descriptor = parsed.blobs[0];
    const config = descriptor && descriptor.size <= MAX_CONFIG_BYTES ? configOf(await readSmall(await sources.openBlob(descriptor.digest), MAX_CONFIG_BYTES)) : undefined;
    const label = config?.config?.Labels?.[DESCRIPTION_KEY];
    const description = annotated ?? (typeof label === 'string' ? nonEmpty(label) : undefined);
    const platform = config && platformOf(config);
    return { ...(description !== undefined ? { description } : {}), platforms: platform ? [platform] : [] };
  }
  const entries = (JSON.parse(body.toString('utf8')) as { manifests?: { platform?: PlatformFields }[] }).manifests ?? [];
  const platforms = [...new Set(entries.map((entry) => platformOf(entry.platform)).filter((platform): platform is string => platform !== undefined && platform !== 'unknown/unknown'))];
  let description = annotated;
  for (const child of parsed.manifests) {
    if (description !== undefined) break;
    description = await sources.childDescription(child.digest);
  }
  return { ...(description !== undefined ? { description } : {}), platforms };
}

export function platformOf(fields: PlatformFields | undefined): string | undefined {
  if (!fields || typeof fields.os !== 'string' || typeof fields.architecture !== 'string') return undefined;
  return [fields.os, fields.architecture, typeof fields.variant === 'string' && fields.variant ? fields.variant : undefined].filter(Boolean).join('/');
}

function configOf(bytes: Buffer | undefined): (PlatformFields & { config?: { Labels?: Record<string, unknown> | null } }) | undefined {
  if (!bytes) return undefined;
  try {
    const config = JSON.parse(bytes.toString('utf8')) as unknown;
    return typeof config === 'object' && config !== null ? config : undefined;
  } catch {
    return undefined; // not JSON (an artifact's config): nothing to learn from it
  }
}

async function readSmall(stream: Readable | undefined, limit: number): Promise<Buffer | undefined> {
  return stream && readUpTo(stream, limit);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
