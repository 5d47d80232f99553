import { RegistryError } from './errors.js';
import { printable } from './names.js';

/** Inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A `Range` no byte of the blob satisfies: 416 with `Content-Range: bytes *\/<size>` (RFC 9110 §15.5.17). */
export class RangeNotSatisfiableError extends RegistryError {
  constructor(
    header: string,
    readonly size: number,
  ) {
    super('RANGE_INVALID', `range "${printable(header)}" is not satisfiable for a blob of ${size} bytes`, { size });
    this.name = 'RangeNotSatisfiableError';
  }
}

/**
 * A `Range` header on a blob GET, parsed before the blob's size is known (a proxy may not
 * know it yet): `first-[last]` or the last `suffix` bytes. `resolveRange` applies it.
 */
export type RangeRequest = { first: number; last?: number; text: string } | { suffix: number; text: string };

/**
 * RFC 9110 §14.2: undefined means "serve the whole blob" (200): a header in another unit, one
 * that does not parse, an invalid range (end before start) and a multi-range request are
 * ignored, which RFC 9110 allows (and requires for other units).
 */
export function parseRangeRequest(header: string): RangeRequest | undefined {
  const match = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  const text = printable(header);
  if (first === '') return last === '' ? undefined : { suffix: Math.min(Number(last), Number.MAX_SAFE_INTEGER), text };
  if (last !== '' && BigInt(last) < BigInt(first)) return undefined;
  const clamp = (digits: string) => Math.min(Number(digits), Number.MAX_SAFE_INTEGER);
  return last === '' ? { first: clamp(first), text } : { first: clamp(first), last: clamp(last), text };
}

/**
 * The one byte range to serve of a blob of `size` bytes, or undefined to serve it whole. Throws
 * `RangeNotSatisfiableError` when the range asks for nothing the blob has.
 */
export function resolveRange(request: RangeRequest | undefined, size: number): ByteRange | undefined {
  if (!request) return undefined;
  if ('suffix' in request) {
    if (request.suffix === 0) throw new RangeNotSatisfiableError(request.text, size);
    // An empty blob has no bytes to name: serving it whole says the same thing.
    if (size === 0) return undefined;
    return { start: Math.max(0, size - request.suffix), end: size - 1 };
  }
  if (request.first >= size) throw new RangeNotSatisfiableError(request.text, size);
  return { start: request.first, end: request.last === undefined ? size - 1 : Math.min(request.last, size - 1) };
}

/** `parseRangeRequest` then `resolveRange`, for a size known up front. */
export function parseRangeHeader(header: string, size: number): ByteRange | undefined {
  return resolveRange(parseRangeRequest(header), size);
}

/**
 * `Content-Range` on an upload PATCH. The spec writes it `<start>-<end>`; `bytes ` / `bytes=`
 * prefixes and a `/total` suffix, which some clients send, are accepted too.
 */
export function parseContentRange(header: string): ByteRange {
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) {
    throw new RegistryError('RANGE_INVALID', `malformed Content-Range "${printable(header)}": expected <start>-<end>`);
  }
  const start = toInteger(match[1]!, header);
  const end = toInteger(match[2]!, header);
  if (end < start) throw new RegistryError('RANGE_INVALID', `malformed Content-Range "${printable(header)}": end is before start`);
  return { start, end };
}

function toInteger(digits: string, header: string): number {
  const value = Number(digits);
  if (!Number.isSafeInteger(value)) throw new RegistryError('RANGE_INVALID', `range value out of bounds in "${printable(header)}"`);
  return value;
}

