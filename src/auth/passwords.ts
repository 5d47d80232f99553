import bcrypt from 'bcryptjs';
import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * bcrypt as htpasswd writes it. `htpasswd -B` writes `$2y$`, which every bcrypt reader
 * (Go's, Apache's, bcryptjs) accepts; Berth writes the same prefix.
 */
export const BCRYPT_COST = 10;
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(hash: string): boolean {
  return BCRYPT.test(hash);
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

/** A hash to verify against when the user is unknown, so timing does not reveal who exists. */
let dummyHash: Promise<string> | undefined;
export async function verifyAgainstNobody(password: string): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  await bcrypt.compare(password, await dummyHash);
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
