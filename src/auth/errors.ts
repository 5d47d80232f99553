import { RegistryError, type ErrorCode } from '../oci/errors.js';

/**
 * How a client should authenticate, carried on the error that refused it. Protocol-neutral:
 * `http/respond.ts` turns it into `WWW-Authenticate: Basic realm="…"` or
 * `Bearer realm="…",service="…",scope="…"`.
 */
export interface Challenge {
  scheme: 'Basic' | 'Bearer';
  params: Record<string, string>;
}

/** A `RegistryError` (UNAUTHORIZED, DENIED, TOOMANYREQUESTS) with what the client needs to retry. */
export class AccessDeniedError extends RegistryError {
  constructor(
    code: Extract<ErrorCode, 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS'>,
    message: string,
    detail: unknown,
    readonly challenge?: Challenge,
    readonly retryAfterSeconds?: number,
  ) {
    super(code, message, detail);
  }
}

/** `realm="x",service="y"`: values quoted, with `"` and `\` escaped. */
export function formatChallenge(challenge: Challenge): string {
  const params = Object.entries(challenge.params).map(([name, value]) => `${name}="${value.replace(/["\\]/g, '\\$&')}"`);
  return `${challenge.scheme} ${params.join(',')}`;
}
