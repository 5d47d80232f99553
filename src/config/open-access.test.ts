import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackHost, openAccessWarning } from './open-access.js';

describe('the open-access warning', () => {
  const listen = { port: 5000, authenticated: false, readOnly: false, deleteEnabled: true };

  it('when the registry has no auth and listens on a wildcard or a LAN address, then it warns naming the address', () => {
    assert.equal(openAccessWarning({ ...listen, host: '0.0.0.0' }), 'no authentication configured and listening on 0.0.0.0:5000: anyone who can reach this address can push and delete');
    assert.equal(openAccessWarning({ ...listen, host: '::' }), 'no authentication configured and listening on [::]:5000: anyone who can reach this address can push and delete');
    assert.match(openAccessWarning({ ...listen, host: '192.168.1.20' })!, /listening on 192\.168\.1\.20:5000: anyone/);
    assert.match(openAccessWarning({ ...listen, host: 'fd00::20', deleteEnabled: false })!, /listening on \[fd00::20\]:5000: anyone who can reach this address can push$/);
    assert.match(openAccessWarning({ ...listen, host: 'registry.example' })!, /registry\.example:5000/, 'a host name may resolve beyond loopback');
    assert.match(openAccessWarning({ ...listen, host: '0.0.0.0', readOnly: true })!, /can pull every repository$/);
  });

  it('when the registry listens on loopback only, or has auth, then there is no warning', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) {
      assert.equal(isLoopbackHost(host), true, host);
      assert.equal(openAccessWarning({ ...listen, host }), undefined, host);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '::ffff:10.0.0.5', '128.0.0.1', '127.example']) assert.equal(isLoopbackHost(host), false, host);
    assert.equal(openAccessWarning({ ...listen, host: '0.0.0.0', authenticated: true }), undefined);
  });
});
