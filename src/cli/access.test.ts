import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { passwdCommandLine } from './access.js';

describe('the printed berth user passwd command', () => {
  it('when the server had a config file, then the command names it by its absolute path, quoted for the shell', () => {
    assert.equal(passwdCommandLine('admin', '/etc/berth/config.yml', '/srv'), 'berth user passwd admin --config /etc/berth/config.yml');
    assert.equal(passwdCommandLine('admin', 'conf/config.yml', '/srv'), 'berth user passwd admin --config /srv/conf/config.yml');
    const awkward = passwdCommandLine('admin', "it's here/config.yml", '/srv/my registry');
    const words = execFileSync('/bin/sh', ['-c', `set -- ${awkward}; printf '%s\\n' "$@"`], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(words, ['berth', 'user', 'passwd', 'admin', '--config', "/srv/my registry/it's here/config.yml"]);
  });

  it('when the server ran on the defaults (./data), then the command first changes to the server\'s directory', () => {
    assert.equal(passwdCommandLine('admin', undefined, '/srv/my registry'), "cd '/srv/my registry' && berth user passwd admin");
  });
});
