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
 * `Range` on a blob GET, resolved against the blob's size (RFC 9110 §14.2). Returns the one
 * byte range to serve, or undefined to serve the whole blob (200): a header in another unit,
 * one that does not parse, an invalid range (end before start) and a multi-range request are
 * ignored, which RFC 9110 allows (and requires for other units). Throws
 * `RangeNotSatisfiableError` when the single range asks for nothing the blob has.
 */
export function parseRangeHeader(header: string, size: number): ByteRange | undefined {
  const match = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') {
    if (last === '') return undefined;
    const suffix = Number(last);
    if (suffix === 0) throw new RangeNotSatisfiableError(header, size);
    // An empty blob has no bytes to name: serving it whole says the same thing.
    if (size === 0) return undefined;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  if (last !== '' && BigInt(last) < BigInt(first)) return undefined;
  const start = Number(first);
  if (start >= size) throw new RangeNotSatisfiableError(header, size);
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
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

