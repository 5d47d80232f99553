import bcrypt from 'bcryptjs';
import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * bcrypt as htpasswd writes it. `htpasswd -B` writes `$2y$`, which every bcrypt reader
 * (Go's, Apache's, bcryptjs) accepts; Berth writes the same prefix.
 */
export const BCRYPT_COST = 10;
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(hash: string): boolean {
  return BCRYPT.test(hash);
}

/** The cost (log2 rounds) a bcrypt hash was made with, or undefined for anything else. */
export function bcryptCost(hash: string): number | undefined {
  const match = BCRYPT.exec(hash);
  return match ? Number(match[1]) : undefined;
}

/**
 * The cost most of `hashes` were made with (the higher one on a tie), or undefined when none is
 * bcrypt: what a wrong password for a typical user costs, so what an unknown user must cost.
 */
export function prevailingCost(hashes: Iterable<string>): number | undefined {
  const counts = new Map<number, number>();
  for (const hash of hashes) {
    const cost = bcryptCost(hash);
    if (cost !== undefined) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best: number | undefined;
  for (const [cost, count] of counts) {
    const bestCount = best === undefined ? 0 : counts.get(best)!;
    if (count > bestCount || (count === bestCount && cost > best!)) best = cost;
  }
  return best;
}

export async function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  const hash = await bcrypt.hash(password, cost);
  return `$2y$${hash.slice(4)}`;
}

/** Compares with bcrypt's constant-time check; the async form yields to the event loop. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!isBcryptHash(hash)) return false;
  return bcrypt.compare(password, hash);
}

/**
 * Verifies against a hash nobody knows the password of, made at `cost`, when the user is
 * unknown: the caller passes the cost a known user's hash has, so a wrong password for a known
 * user and any password for an unknown one take the same time (no user enumeration by timing).
 * One hash per cost, made once.
 */
const dummyHashes = new Map<number, Promise<string>>();
export async function verifyAgainstNobody(password: string, cost: number = BCRYPT_COST): Promise<false> {
  let dummy = dummyHashes.get(cost);
  if (!dummy) {
    dummy = hashPassword(randomBytes(16).toString('hex'), cost);
    dummyHashes.set(cost, dummy);
  }
  await bcrypt.compare(password, await dummy);
  return false;
}

/** Constant-time equality of two secrets (compared as bytes; different lengths never match). */
export function secretsEqual(a: string | Buffer, b: string | Buffer): boolean {
  const left = Buffer.isBuffer(a) ? a : Buffer.from(a);
  const right = Buffer.isBuffer(b) ? b : Buffer.from(b);
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/** 24 random bytes as URL-safe base64: the generated admin password. */
export function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}
