import { MIMEType } from 'node:util';
import { RegistryError } from './errors.js';
import { MediaType } from './media-types.js';
import type { ManifestReference } from './routes.js';

/**
 * Content negotiation for manifests (RFC 9110 §12.5.1). An `Accept` header is a
 * comma-separated list of media ranges (`type/subtype`, `type/*`, `*\/*`), each with
 * optional parameters, of which `q` is the weight; `q=0` means "not acceptable".
 */
export interface MediaRange {
  type: string;
  subtype: string;
  /** 0 to 1; 0 excludes what the range matches. */
  weight: number;
}

/**
 * What the client accepts. An empty list means no preference (no `Accept` header, or none
 * that could be read): RFC 9110 says such a client accepts any media type.
 */
export type AcceptList = readonly MediaRange[];

export const ACCEPT_ANYTHING: AcceptList = Object.freeze([]);

/**
 * Parsing costs ~15 µs for a typical client's list, a large share of a cached manifest GET;
 * a client sends the same few header values again and again, so parsed lists are kept (by
 * value, frozen, a bounded number of them).
 */
const PARSED = new Map<string, AcceptList>();
const MAX_PARSED = 64;

/** Reads an `Accept` header (Node joins repeated headers with ", "); unreadable elements are skipped. */
export function parseAccept(header: string | undefined): AcceptList {
  if (header === undefined) return ACCEPT_ANYTHING;
  let parsed = PARSED.get(header);
  if (parsed === undefined) {
    if (PARSED.size >= MAX_PARSED) PARSED.clear();
    parsed = Object.freeze(parseList(header));
    PARSED.set(header, parsed);
  }
  return parsed;
}

function parseList(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const element of splitOutsideQuotes(header)) {
    if (element.trim() === '') continue;
    let mime: MIMEType;
    try {
      mime = new MIMEType(element);
    } catch {
      continue;
    }
    if (mime.type === '*' && mime.subtype !== '*') continue;
    const weight = parseWeight(mime.params.get('q'));
    if (weight === undefined) continue;
    ranges.push(Object.freeze({ type: mime.type, subtype: mime.subtype, weight }));
  }
  return ranges;
}

/** True when the most specific range matching `mediaType` has a weight above zero. */
export function accepts(accept: AcceptList, mediaType: string): boolean {
  if (accept.length === 0) return true;
  const [type, subtype] = mediaType.toLowerCase().split('/', 2) as [string, string | undefined];
  let best: { specificity: number; weight: number } | undefined;
  for (const range of accept) {
    const specificity =
      range.type === type && range.subtype === subtype ? 2 : range.type === type && range.subtype === '*' ? 1 : range.type === '*' ? 0 : -1;
    if (specificity < 0) continue;
    if (!best || specificity > best.specificity || (specificity === best.specificity && range.weight > best.weight)) {
      best = { specificity, weight: range.weight };
    }
  }
  return best !== undefined && best.weight > 0;
}

const DESCRIBED: Record<string, { found: string; unsupported: string }> = {
  [MediaType.OciManifest]: { found: 'OCI manifest', unsupported: 'OCI manifests' },
  [MediaType.OciIndex]: { found: 'OCI index', unsupported: 'OCI indexes' },
  [MediaType.DockerManifest]: { found: 'Docker schema2 manifest', unsupported: 'Docker schema2 manifests' },
  [MediaType.DockerManifestList]: { found: 'Docker manifest list', unsupported: 'Docker manifest lists' },
};

/**
 * A manifest asked for by tag is served only in a media type the client accepts; otherwise it
 * is unknown to that client (404 MANIFEST_UNKNOWN, registry:2's answer and wording), since a
 * client that cannot read the format cannot use it. By digest the client names exact bytes,
 * so they are served whatever it accepts. Berth converts nothing: a Docker manifest list is
 * never replaced by one of its children.
 */
export function requireAcceptable(mediaType: string, reference: ManifestReference, accept: AcceptList): void {
  if (reference.digest !== undefined || accepts(accept, mediaType)) return;
  const described = DESCRIBED[mediaType] ?? { found: `manifest of type ${mediaType}`, unsupported: mediaType };
  throw new RegistryError('MANIFEST_UNKNOWN', `${described.found} found, but accept header does not support ${described.unsupported}`, {
    tag: reference.tag,
    mediaType,
  });
}

function parseWeight(value: string | null): number | undefined {
  if (value === null) return 1;
  // RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
  return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value) ? Number(value) : undefined;
}

/** Splits a header list on commas, leaving commas inside quoted parameter values alone. */
function splitOutsideQuotes(header: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let index = 0; index < header.length; index += 1) {
    const char = header[index];
    if (char === '\\' && quoted) index += 1;
    else if (char === '"') quoted = !quoted;
    else if (char === ',' && !quoted) {
      parts.push(header.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(header.slice(start));
  return parts;
}
