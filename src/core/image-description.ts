import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { ParsedManifest } from '../oci/manifest.js';

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

/**
 * What search shows for a manifest: its own `org.opencontainers.image.description` annotation;
 * else, for an image, the same label in its config (what `LABEL` in a Dockerfile writes); else,
 * for an index, the first child that has one. Undefined when none says anything.
 */
export async function describeManifest(parsed: ParsedManifest, sources: DescriptionSources): Promise<string | undefined> {
  const annotated = nonEmpty(parsed.annotations?.[DESCRIPTION_KEY]);
  if (annotated !== undefined) return annotated;
  if (parsed.kind === 'image') {
    const config = parsed.blobs[0];
    if (!config || config.size > MAX_CONFIG_BYTES) return undefined;
    return labelOf(await readSmall(await sources.openBlob(config.digest), MAX_CONFIG_BYTES));
  }
  for (const child of parsed.manifests) {
    const described = await sources.childDescription(child.digest);
    if (described !== undefined) return described;
  }
  return undefined;
}

function labelOf(bytes: Buffer | undefined): string | undefined {
  if (!bytes) return undefined;
  try {
    const config = JSON.parse(bytes.toString('utf8')) as { config?: { Labels?: Record<string, unknown> | null } };
    const label = config.config?.Labels?.[DESCRIPTION_KEY];
    return typeof label === 'string' ? nonEmpty(label) : undefined;
  } catch {
    return undefined; // not JSON (an artifact's config): nothing to describe it with
  }
}

async function readSmall(stream: Readable | undefined, limit: number): Promise<Buffer | undefined> {
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
