import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../../auth/principal.js';

/**
 * Web UI sessions, in the server's memory: an unguessable id (the HttpOnly cookie), the
 * principal who logged in, a CSRF token for every state-changing request, and two expiries —
 * idle (renewed on use) and absolute (from login). A restart logs everyone out, which is what a
 * single-process registry can promise; replicas will need the database behind this interface.
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

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  create(principal: Principal, options: { mustChangePassword: boolean; operator: boolean }): Session {
    this.sweep();
    const now = this.now();
    const session: Session = { id: token(), principal, operator: options.operator, csrf: token(), createdAt: now, lastUsedAt: now, mustChangePassword: options.mustChangePassword };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session for a cookie value, renewed; undefined when unknown or expired (then forgotten). */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const now = this.now();
    if (now - session.lastUsedAt > this.limits.idleMs || now - session.createdAt > this.limits.absoluteMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastUsedAt = now;
    return session;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of a user (their password changed, or they were removed). */
  endAllOf(name: string): void {
    for (const [id, session] of this.sessions) if (session.principal.kind === 'user' && session.principal.name === name) this.sessions.delete(id);
  }

  /** A CSRF token sent with a request matches the session's (constant-time). */
  static csrfMatches(session: Session, sent: string | undefined): boolean {
    if (!sent) return false;
    const expected = Buffer.from(session.csrf);
    const actual = Buffer.from(sent);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) {
      if (now - session.lastUsedAt > this.limits.idleMs || now - session.createdAt > this.limits.absoluteMs) this.sessions.delete(id);
    }
  }
}

export function token(): string {
  return randomBytes(32).toString('base64url');
}
