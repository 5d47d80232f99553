import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../oci/errors.js';

/** Reads a small body (manifests) into memory, refusing more than `limit` bytes early. */
export async function readBoundedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is ${declared} bytes; the limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw new RegistryError('MANIFEST_TOO_LARGE', `manifest exceeds the ${limit}-byte limit`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** The declared Content-Length, or undefined when the body is chunked or absent. */
export function contentLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  if (!/^\d+$/.test(header)) throw new RegistryError('SIZE_INVALID', `malformed Content-Length "${header.slice(0, 40)}"`);
  return Number(header);
}

/** True when the request carries a body at all (declared length > 0 or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = contentLength(req);
  return length !== undefined ? length > 0 : req.headers['transfer-encoding'] !== undefined;
}
