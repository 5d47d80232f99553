import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AccessDeniedError } from '../auth/errors.js';
import { ERROR_TABLE, RegistryError, type ErrorCode } from '../oci/errors.js';
import { ADMIN_ERROR_TABLE, AdminError, adminErrorOf } from './admin-errors.js';

function documentedCodes(): Map<string, number> {
  const markdown = readFileSync(new URL('../../docs/admin-api.md', import.meta.url), 'utf8');
  const section = markdown.slice(markdown.indexOf('## Errors'));
  const rows = new Map<string, number>();
  for (const match of section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) rows.set(match[1]!, Number(match[2]));
  return rows;
}

describe('the admin error table', () => {
  it('when compared with docs/admin-api.md, then both list the same codes with the same statuses', () => {
    const table = new Map(Object.entries(ADMIN_ERROR_TABLE).map(([code, entry]) => [code, entry.status]));
    assert.deepEqual(new Map([...documentedCodes()].sort()), new Map([...table].sort()));
  });

  it('when a /v2 code reaches the admin API, then it keeps its status class (client error, auth, server error)', () => {
    for (const code of Object.keys(ERROR_TABLE) as ErrorCode[]) {
      const mapped = adminErrorOf(new RegistryError(code))!;
      const before = ERROR_TABLE[code].status;
      if (before === 401 || before === 403 || before === 404 || before === 429 || before >= 500) assert.equal(mapped.status, before, code);
      else assert.ok(mapped.status >= 400 && mapped.status < 500, code);
    }
  });

  it('when a refusal carries a challenge or a retry time, then the admin error carries them as headers', () => {
    const challenged = adminErrorOf(new AccessDeniedError('UNAUTHORIZED', 'who?', null, { scheme: 'Basic', params: { realm: 'berth' } }))!;
    assert.equal(challenged.headers['WWW-Authenticate'], 'Basic realm="berth"');
    assert.equal(adminErrorOf(new AccessDeniedError('TOOMANYREQUESTS', 'slow', null, undefined, 7))!.headers['Retry-After'], '7');
  });

  it('when an error is untyped, then it has no admin code (answered UNKNOWN and logged)', () => {
    assert.equal(adminErrorOf(new Error('boom')), undefined);
    assert.equal(new AdminError('CONFLICT').status, 409);
  });
});
