import { RegistryError } from './errors.js';
import { printable } from './names.js';

/** Inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * `Range: bytes=…` on a blob GET, resolved against the blob's size. Only a single range is
 * served; anything malformed or unsatisfiable is 416 `RANGE_INVALID` with the reason.
 */
export function parseRangeHeader(header: string, size: number): ByteRange {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) {
    throw new RegistryError('RANGE_INVALID', `malformed Range header "${printable(header)}": expected bytes=<start>-<end>, bytes=<start>- or bytes=-<suffix length> (one range)`, { size });
  }
  const [, first, last] = match as unknown as [string, string, string];
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = toInteger(last, header);
    if (suffix === 0) throw unsatisfiable(header, size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = toInteger(first, header);
    end = last === '' ? size - 1 : Math.min(toInteger(last, header), size - 1);
    if (last !== '' && toInteger(last, header) < start) {
      throw new RegistryError('RANGE_INVALID', `malformed Range header "${printable(header)}": end is before start`, { size });
    }
  }
  if (start >= size || end < start) throw unsatisfiable(header, size);
  return { start, end };
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

function unsatisfiable(header: string, size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', `range "${printable(header)}" is not satisfiable for a blob of ${size} bytes`, { size });
}
