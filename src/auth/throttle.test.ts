import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { BasicAuthenticator } from './basic.js';
import { hashPassword } from './passwords.js';
import { PasswordVerifier, type PasswordSource } from './passwords-source.js';
import type { AuthenticationResult } from './principal.js';
import { LoginThrottle } from './throttle.js';

const WINDOW = 60_000;

/** Basic authentication over two users (alice, bob) with a throttle on an injected clock. */
function setup(hashes: Map<string, string>, options: { maxFailures?: number; userMaxFailures?: number; maxEntries?: number } = {}) {
  const clock = { now: 0 };
  const checks = { count: 0 };
  const source: PasswordSource = {
    lookup: async (name) => {
      checks.count++;
      const hash = hashes.get(name);
      return hash === undefined ? undefined : { name, hash, source: 'htpasswd' };
    },
    prevailingCost: async () => 4,
  };
  const throttle = new LoginThrottle({ maxFailures: options.maxFailures ?? 10, userMaxFailures: options.userMaxFailures, windowMs: WINDOW, maxEntries: options.maxEntries }, () => clock.now);
  // No credential cache: every attempt reaches bcrypt, as a guess would.
  const basic = new BasicAuthenticator(new PasswordVerifier([source], 0), throttle, { allowInsecure: false });
  const login = (address: string, user: string, password: string): Promise<AuthenticationResult> =>
    basic.authenticate({ remoteAddress: address, secure: false, loopback: true, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  return { clock, checks, throttle, login };
}

function outcome(result: AuthenticationResult): string {
  return result.outcome === 'rejected' && result.throttled ? `429 after ${result.throttled.retryAfterSeconds}s` : result.outcome;
}

describe('login throttling', () => {
  const hashes = new Map<string, string>();
  before(async () => {
    hashes.set('alice', await hashPassword('alice-password', 4));
    hashes.set('bob', await hashPassword('bob-password', 4));
  });

  it('when user A failed 100 times from an address, then user B logs in from that address at once, and A from another address too', async () => {
    const { login } = setup(hashes, { userMaxFailures: 1000 });
    for (let i = 0; i < 100; i++) await login('10.0.0.1', 'alice', `guess-${i}`);
    assert.match(outcome(await login('10.0.0.1', 'alice', 'alice-password')), /^429/, 'the address that failed waits for that name, even with the right password');
    assert.equal(outcome(await login('10.0.0.1', 'bob', 'bob-password')), 'authenticated');
    assert.equal(outcome(await login('10.0.0.2', 'alice', 'alice-password')), 'authenticated');
  });

  it('when an address keeps failing for a name, then each lockout is twice as long as the one before, up to 32 windows', async () => {
    const { clock, login } = setup(hashes, { maxFailures: 3, userMaxFailures: 1000 });
    const lockouts: number[] = [];
    for (let round = 0; round < 8; round++) {
      let result: AuthenticationResult | undefined;
      for (let i = 0; i < 3; i++) result = await login('10.0.0.1', 'alice', 'wrong');
      assert.ok(result?.outcome === 'rejected' && result.throttled, `round ${round} ends locked`);
      lockouts.push(result.throttled.retryAfterSeconds);
      assert.match(outcome(await login('10.0.0.1', 'alice', 'alice-password')), /^429/, 'locked: the password is not even checked');
      clock.now += result.throttled.retryAfterSeconds * 1000;
    }
    assert.deepEqual(lockouts, [60, 120, 240, 480, 960, 1920, 1920, 1920]);
    assert.equal(outcome(await login('10.0.0.1', 'alice', 'alice-password')), 'authenticated', 'after the lockout the right password works');
    clock.now += 1;
    for (let i = 0; i < 3; i++) await login('10.0.0.1', 'alice', 'wrong');
    clock.now += 60_000;
    assert.equal(outcome(await login('10.0.0.1', 'alice', 'alice-password')), 'authenticated', 'a success started the backoff again from one window');
  });

  it('when one name is guessed from many addresses, then past the per-name limit each address gets one guess per lockout, while the right password from a clean address is accepted', async () => {
    const { clock, checks, login } = setup(hashes, { maxFailures: 10, userMaxFailures: 20 });
    for (let i = 0; i < 400; i++) {
      const result = await login(`10.1.${i % 50}.1`, 'alice', `guess-${i}`);
      assert.equal(outcome(result).startsWith('429'), i >= 19, `guess ${i}`);
      if (i >= 19) assert.ok(result.outcome === 'rejected' && result.throttled!.retryAfterSeconds >= 59, 'refused until the name is no longer under attack');
    }
    // 20 guesses (under 10 per address) reach the per-name limit, and the 20th already locks its
    // address; then each of the 49 other addresses has one more guess checked (answered 429, the
    // address now refused for the name) and the other 331 are refused without a password check. Without the per-name limit every one of
    // the 400 would be checked (8 per address).
    assert.equal(checks.count, 20 + 49);
    assert.equal(outcome(await login('10.2.0.1', 'alice', 'alice-password')), 'authenticated', 'the real user is not locked out from everywhere');
    assert.equal(outcome(await login('10.1.0.1', 'bob', 'bob-password')), 'authenticated', 'other names from an attacking address are unaffected');
    clock.now += WINDOW * 2 ** 5 + 1;
    assert.equal(outcome(await login('10.1.0.1', 'alice', 'alice-password')), 'authenticated', 'the lockouts end');
  });

  it('when a name does not exist, then it is throttled exactly like one that does (no enumeration through 429s)', async () => {
    const { login } = setup(hashes, { maxFailures: 3, userMaxFailures: 1000 });
    const pattern = async (user: string) => {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) seen.push(outcome(await login('10.0.0.9', user, 'wrong')));
      return seen;
    };
    assert.deepEqual(await pattern('mallory'), await pattern('alice'));
  });

  it('when a flood of distinct names and addresses arrives, then the throttle remembers at most maxEntries of each', async () => {
    const { throttle } = setup(hashes, { maxEntries: 100 });
    for (let i = 0; i < 1000; i++) throttle.failed(`10.3.${i >> 8}.${i & 255}`, `user-${i}-${'x'.repeat(500)}`);
    assert.deepEqual(throttle.size, { pairs: 100, names: 100 });
  });
});
