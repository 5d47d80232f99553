import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../../auth/principal.js';
import type { WebSessionIndex, WebSessionRow } from '../../metadata/store.js';

/**
 * Web UI sessions: an unguessable id (the HttpOnly cookie), the principal who logged in, a
 * CSRF token for every state-changing request, and two expiries — idle (renewed on use) and
 * absolute (from login). Kept in the metadata database, so every replica behind a load
 * balancer knows a browser's login and a restart logs nobody out; only the cookie's sha256 is
 * stored. Renewal is written at most once per `RENEW_EVERY_MS`, not on every page.
 */
export interface Session {
  id: string;
  principal: Principal;
  /** A registry without access control, seen from loopback: the person running it. */
  operator: boolean;
  csrf: string;
  createdAt: number;
  lastUsedAt: number;
  /** The first start's generated admin password is still in use: nothing but changing it. */
  mustChangePassword: boolean;
}

export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 60 * 60_000 };
/** Idle expiry is exact to within this much; it spares a database write per page. */
const RENEW_EVERY_MS = 60_000;

export class SessionStore {
  constructor(
    private readonly index: WebSessionIndex,
    private readonly now: () => number,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  async create(principal: Principal, options: { mustChangePassword: boolean; operator: boolean }): Promise<Session> {
    const now = this.now();
    await this.index.deleteExpiredWebSessions(now - this.limits.idleMs, now - this.limits.absoluteMs);
    const session: Session = { id: token(), principal, operator: options.operator, csrf: token(), createdAt: now, lastUsedAt: now, mustChangePassword: options.mustChangePassword };
    const row: WebSessionRow = {
      idHash: hashOf(session.id), userName: principal.kind === 'user' ? principal.name : null, principal: JSON.stringify(principal),
      operator: session.operator, csrf: session.csrf, mustChangePassword: session.mustChangePassword, createdAt: now, lastUsedAt: now,
    };
    await this.index.insertWebSession(row);
    return session;
  }

  /** The live session for a cookie value, renewed; undefined when unknown or expired (then forgotten). */
  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id) return undefined;
    const idHash = hashOf(id);
    const row = await this.index.webSession(idHash);
    if (!row) return undefined;
    const now = this.now();
    if (now - row.lastUsedAt > this.limits.idleMs || now - row.createdAt > this.limits.absoluteMs) {
      await this.index.deleteWebSession(idHash);
      return undefined;
    }
    if (now - row.lastUsedAt >= RENEW_EVERY_MS) await this.index.touchWebSession(idHash, now);
    return {
      id, principal: JSON.parse(row.principal) as Principal, operator: row.operator, csrf: row.csrf,
      createdAt: row.createdAt, lastUsedAt: now, mustChangePassword: row.mustChangePassword,
    };
  }

  end(id: string): Promise<void> {
    return this.index.deleteWebSession(hashOf(id));
  }

  /** Ends every session of a user (their password changed, or they were removed). */
  endAllOf(name: string): Promise<void> {
    return this.index.deleteWebSessionsOf(name);
  }

  /** A CSRF token sent with a request matches the session's (constant-time). */
  static csrfMatches(session: Session, sent: string | undefined): boolean {
    if (!sent) return false;
    const expected = Buffer.from(session.csrf);
    const actual = Buffer.from(sent);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}

export function token(): string {
  return randomBytes(32).toString('base64url');
}

function hashOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
