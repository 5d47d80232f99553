import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_TABLE, RegistryError, SPEC_ERROR_CODES } from './errors.js';

/** The OCI Distribution Spec v1.1 "Error Codes" table: code-1 … code-14. */
const OCI_SPEC_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED',
  'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
];

function documentedCodes(): Map<string, number> {
  const markdown = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, number>();
  for (const match of markdown.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) rows.set(match[1]!, Number(match[2]));
  return rows;
}

describe('the error table', () => {
  it('when compared with the OCI spec, then every spec code is present and marked as such', () => {
    assert.deepEqual([...SPEC_ERROR_CODES].sort(), [...OCI_SPEC_CODES].sort());
    for (const code of OCI_SPEC_CODES) assert.ok(code in ERROR_TABLE, code);
  });

  it('when compared with docs/errors.md, then both list the same codes with the same statuses', () => {
    const documented = documentedCodes();
    const table = new Map(Object.entries(ERROR_TABLE).map(([code, entry]) => [code, entry.status]));
    assert.deepEqual(new Map([...documented].sort()), new Map([...table].sort()));
  });

  it('when a RegistryError is thrown, then its status comes from the table and a default message is used', () => {
    const error = new RegistryError('BLOB_UNKNOWN');
    assert.equal(error.status, 404);
    assert.equal(error.message, ERROR_TABLE.BLOB_UNKNOWN.message);
    assert.equal(new RegistryError('RANGE_INVALID', 'custom').message, 'custom');
  });
});
