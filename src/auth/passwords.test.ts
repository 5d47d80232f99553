import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BasicAuthenticator, parseBasic } from './basic.js';
import { HtpasswdFile, parseHtpasswd } from './htpasswd.js';
import { bcryptCost, hashPassword, prevailingCost, secretsEqual, verifyPassword } from './passwords.js';
import { DatabasePasswords } from './database-passwords.js';
import { SqlAccessStore } from '../metadata/sql/sql-access-store.js';
import { SqlMetadataStore } from '../metadata/sql/sql-store.js';
import { SqliteDatabase } from '../metadata/sql/sqlite-database.js';
import { PasswordVerifier, type PasswordSource } from './passwords-source.js';
import { LoginThrottle } from './throttle.js';

const quiet = { reloaded: () => {}, failed: () => {} };

describe('passwords and htpasswd', () => {
  it('when Berth hashes a password, then it writes $2y$ bcrypt that verifies, and rejects others', async () => {
    const hash = await hashPassword('correct horse', 4);
    assert.match(hash, /^\$2y\$04\$/);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('wrong horse', hash), false);
    assert.equal(await verifyPassword('x', 'not-a-hash'), false);
    assert.equal(secretsEqual('abc', 'abc'), true);
    assert.equal(secretsEqual('abc', 'abd'), false);
    assert.equal(secretsEqual('abc', 'abcd'), false);
  });

  it('when htpasswd -Bbn wrote the entry, then Berth verifies it; when Berth wrote it, then htpasswd -v verifies it', async () => {
    const line = execFileSync('htpasswd', ['-Bbn', 'alice', 's3cret pw'], { encoding: 'utf8' }).trim();
    const { users } = parseHtpasswd(line);
    assert.equal(await verifyPassword('s3cret pw', users.get('alice')!), true);
    const dir = mkdtempSync(join(tmpdir(), 'berth-htpasswd-'));
    writeFileSync(join(dir, 'file'), `bob:${await hashPassword('another pw', 5)}\n`);
    execFileSync('htpasswd', ['-vb', join(dir, 'file'), 'bob', 'another pw'], { stdio: 'ignore' });
  });

  it('when a file holds comments, blanks and non-bcrypt lines, then only bcrypt users load and the rest are named', () => {
    const { users, skipped } = parseHtpasswd(`# comment\n\nalice:$2y$05$${'a'.repeat(53)}\nbob:{SHA}abc=\nbroken\n`);
    assert.deepEqual([...users.keys()], ['alice']);
    assert.equal(skipped.length, 2);
    assert.ok(skipped.every((line) => !line.includes('{SHA}')), 'skipped lines never repeat the hash');
  });

  it('when the file changes, then it is re-read without a restart and listeners hear of it; a missing file stops startup', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-htpasswd-'));
    const path = join(dir, 'htpasswd');
    writeFileSync(path, `alice:${await hashPassword('first password', 4)}\n`);
    const file = new HtpasswdFile(path, quiet, 0);
    let changes = 0;
    file.onChange(() => changes++);
    assert.ok(await file.lookup('alice'));
    assert.equal(await file.lookup('bob'), undefined);
    writeFileSync(path, `bob:${await hashPassword('second password', 4)}\n`);
    assert.equal(await file.lookup('alice'), undefined);
    assert.ok(await file.lookup('bob'));
    assert.equal(changes, 1);
    assert.throws(() => new HtpasswdFile(join(dir, 'missing'), quiet), /cannot read htpasswd file .*ENOENT/);
  });
});

/** An htpasswd line as Apache's tool writes it, e.g. `-B` (bcrypt, cost 5), `-BC 7`, `-m`, `-s`, `-p`. */
function apacheLine(flags: string[], user: string, password: string): string {
  return execFileSync('htpasswd', [...flags, '-bn', user, password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

describe('unknown users cost what wrong passwords cost', () => {
  it('when the htpasswd file holds htpasswd -B entries (cost 5), then an unknown user is checked at cost 5, and at the new cost after the file changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-htpasswd-'));
    const path = join(dir, 'htpasswd');
    const alice = apacheLine(['-B'], 'alice', 'alice-password');
    assert.equal(bcryptCost(alice.slice('alice:'.length)), 5, 'htpasswd -B writes cost 5');
    writeFileSync(path, `${alice}\n${apacheLine(['-B'], 'bob', 'bob-password')}\n${apacheLine(['-BC', '7'], 'carol', 'carol-password')}\n`);
    const file = new HtpasswdFile(path, quiet, 0);
    const verifier = new PasswordVerifier([file], 60_000);
    assert.equal(await verifier.dummyCost(), 5, 'the cost most entries have');
    writeFileSync(path, `${apacheLine(['-BC', '7'], 'dave', 'dave-password')}\n`);
    assert.equal(await verifier.dummyCost(), 7, 'recomputed when the file is re-read');
    assert.equal(await verifier.verify('nobody', 'dave-password'), undefined);
  });

  it('when the htpasswd file holds apr1, {SHA} or plain entries, then those users never log in and are checked like unknown users', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-htpasswd-'));
    const path = join(dir, 'htpasswd');
    const lines = [apacheLine(['-m'], 'apr', 'apr-password'), apacheLine(['-s'], 'sha', 'sha-password'), apacheLine(['-p'], 'plain', 'plain-password'), apacheLine(['-BC', '6'], 'alice', 'alice-password')];
    writeFileSync(path, `${lines.join('\n')}\n`);
    const skipped: string[] = [];
    const file = new HtpasswdFile(path, { reloaded: (_users, lines) => skipped.push(...lines), failed: () => {} }, 0);
    const verifier = new PasswordVerifier([file], 60_000);
    for (const user of ['apr', 'sha', 'plain']) {
      assert.equal(await file.lookup(user), undefined, `${user} is not a known user`);
      assert.equal(await verifier.verify(user, `${user}-password`), undefined, `${user} cannot log in, even with its password`);
    }
    assert.equal(skipped.length, 3);
    assert.equal(await verifier.dummyCost(), 6, 'only bcrypt entries set the cost');
    assert.ok(await verifier.verify('alice', 'alice-password'));
  });

  it('when users are in the database, then an unknown user is checked at the cost of their hashes, re-read after the recheck interval', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-dbpw-'));
    const database = new SqliteDatabase(join(dir, 'berth.sqlite'));
    const metadata = await SqlMetadataStore.open(database);
    const store = new SqlAccessStore(database);
    try {
      let now = 0;
      const source = new DatabasePasswords(store, 60_000, () => now);
      const verifier = new PasswordVerifier([source], 60_000);
      assert.equal(await verifier.dummyCost(), 10, 'no users: the cost Berth hashes at');
      await store.putUser('alice', await hashPassword('alice-password', 6));
      await store.putUser('bob', await hashPassword('bob-password', 6));
      await store.putUser('carol', await hashPassword('carol-password', 4));
      now = 60_000;
      assert.equal(await verifier.dummyCost(), 6);
    } finally {
      await store.close();
      await metadata.close();
    }
  });

  it('when costs tie, then the higher one prevails; non-bcrypt hashes do not count', () => {
    assert.equal(prevailingCost([]), undefined);
    assert.equal(prevailingCost([`$2y$05$${'a'.repeat(53)}`, `$2b$12$${'a'.repeat(53)}`, '{SHA}abc=']), 12);
    assert.equal(prevailingCost([`$2y$05$${'a'.repeat(53)}`, `$2a$05$${'b'.repeat(53)}`, `$2b$12$${'a'.repeat(53)}`]), 5);
  });
});

describe('the password verifier', () => {
  it('when a pair was verified, then the next check skips bcrypt; a changed hash or clear() forgets it', async () => {
    let hash = await hashPassword('pw-one-1', 4);
    let lookups = 0;
    const source: PasswordSource = { lookup: async (name) => (lookups++, name === 'alice' ? { name, hash, source: 'database' } : undefined), prevailingCost: async () => 4 };
    const verifier = new PasswordVerifier([source], 60_000);
    assert.deepEqual(await verifier.verify('alice', 'pw-one-1'), { name: 'alice', source: 'database' });
    const started = process.hrtime.bigint();
    for (let i = 0; i < 50; i++) assert.ok(await verifier.verify('alice', 'pw-one-1'));
    const perCheckMs = Number(process.hrtime.bigint() - started) / 1e6 / 50;
    assert.ok(perCheckMs < 1, `a cached check took ${perCheckMs} ms`);
    assert.equal(await verifier.verify('alice', 'wrong'), undefined);
    hash = await hashPassword('pw-two-2', 4);
    assert.equal(await verifier.verify('alice', 'pw-one-1'), undefined, 'the old password no longer works from the cache');
    assert.ok(await verifier.verify('alice', 'pw-two-2'));
    assert.equal(await verifier.verify('nobody', 'x'), undefined);
    assert.ok(lookups > 50);
  });
});

describe('Basic authentication and throttling', () => {
  it('when headers are malformed or of another scheme, then Basic rejects or passes them on', async () => {
    assert.deepEqual(parseBasic(`Basic ${Buffer.from('a:b:c').toString('base64')}`), { user: 'a', password: 'b:c' });
    for (const bad of ['Basic', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`, `Basic ${Buffer.from(':pw').toString('base64')}`, `Basic ${Buffer.from('a\nb:c').toString('base64')}`]) {
      assert.equal(parseBasic(bad), undefined, bad);
    }
    const hash = await hashPassword('password1', 4);
    const basic = new BasicAuthenticator(new PasswordVerifier([{ lookup: async (name) => ({ name, hash, source: 'htpasswd' }), prevailingCost: async () => 4 }], 1000), new LoginThrottle({ maxFailures: 100, windowMs: 1000 }), { allowInsecure: false });
    const base = { remoteAddress: '10.0.0.1', secure: false, loopback: true };
    assert.equal((await basic.authenticate({ ...base, authorization: 'Bearer abc' })).outcome, 'not-mine');
    assert.equal((await basic.authenticate(base)).outcome, 'not-mine');
    assert.equal((await basic.authenticate({ ...base, authorization: 'Basic !!!' })).outcome, 'rejected');
    const good = `Basic ${Buffer.from('u:password1').toString('base64')}`;
    assert.equal((await basic.authenticate({ ...base, authorization: good })).outcome, 'authenticated');
    const remote = await basic.authenticate({ ...base, loopback: false, authorization: good });
    assert.equal(remote.outcome, 'rejected');
    assert.match((remote as { reason: string }).reason, /plain HTTP on a non-loopback address/);
    assert.equal((await basic.authenticate({ ...base, loopback: false, secure: true, authorization: good })).outcome, 'authenticated');
  });

});
