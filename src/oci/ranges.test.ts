import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RegistryError } from './errors.js';
import { RangeNotSatisfiableError, parseContentRange, parseRangeHeader } from './ranges.js';

describe('byte ranges', () => {
  it('when a Range header is satisfiable, then it resolves against the size', () => {
    assert.deepEqual(parseRangeHeader('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRangeHeader('bytes=3-', 10), { start: 3, end: 9 });
    assert.deepEqual(parseRangeHeader('bytes=-4', 10), { start: 6, end: 9 });
    assert.deepEqual(parseRangeHeader('bytes=-40', 10), { start: 0, end: 9 });
    assert.deepEqual(parseRangeHeader('bytes=5-99', 10), { start: 5, end: 9 });
  });

  it('when a Range header asks for nothing the blob has, then RangeNotSatisfiableError (416) carrying the size', () => {
    for (const header of ['bytes=10-', 'bytes=-0', 'bytes=99999999999999999999-', 'bytes=10-20']) {
      assert.throws(
        () => parseRangeHeader(header, 10),
        (error: RegistryError) => error instanceof RangeNotSatisfiableError && error.code === 'RANGE_INVALID' && error.status === 416 && error.size === 10,
        header,
      );
    }
    assert.throws(() => parseRangeHeader('bytes=0-', 0), RangeNotSatisfiableError);
  });

  it('when a Range header is invalid, in another unit or asks for several ranges, then it is ignored (RFC 9110 §14.2)', () => {
    for (const header of ['bytes=4-2', 'bytes=', 'bytes=-', 'bytes=a-b', 'lines=1-2', 'bytes=1-2,3-4', 'bytes 1-2', 'bytes=99999999999999999999-1']) {
      assert.equal(parseRangeHeader(header, 10), undefined, header);
    }
    assert.equal(parseRangeHeader('bytes=-5', 0), undefined, 'an empty blob is served whole');
    assert.deepEqual(parseRangeHeader('Bytes=1-2', 10), { start: 1, end: 2 });
  });

  it('when a Content-Range is given in any form clients send, then start and end are read', () => {
    assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
    assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
    assert.deepEqual(parseContentRange('bytes=5-5'), { start: 5, end: 5 });
    for (const header of ['', '5', '9-3', 'a-b', '-5', '1-2-3']) {
      assert.throws(() => parseContentRange(header), (error: RegistryError) => error.code === 'RANGE_INVALID', header);
    }
  });
});
