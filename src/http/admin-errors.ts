import { AccessDeniedError, formatChallenge } from '../auth/errors.js';
import { RegistryError, type ErrorCode } from '../oci/errors.js';

/**
 * The admin API's own error table (`/api/v1/…`, and the UI's answers): codes a REST client
 * understands, each owning its status. `docs/admin-api.md` lists the same rows; a test keeps
 * them in agreement. Core and auth keep throwing `RegistryError`; `adminErrorOf` maps each of
 * their codes here, in one table the compiler checks for completeness.
 */
export const ADMIN_ERROR_TABLE = {
  INVALID_REQUEST: { status: 400, message: 'the request is invalid' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'the operation is not permitted' },
  NOT_FOUND: { status: 404, message: 'no such resource' },
  UNSUPPORTED: { status: 405, message: 'the operation is not supported here' },
  CONFLICT: { status: 409, message: 'the operation conflicts with the current state' },
  TOO_LARGE: { status: 413, message: 'the request body is too large' },
  TOO_MANY_REQUESTS: { status: 429, message: 'too many requests' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type AdminErrorCode = keyof typeof ADMIN_ERROR_TABLE;

/** The admin meaning of each `/v2` code that core or auth may throw. */
const FROM_REGISTRY = {
  BLOB_UNKNOWN: 'NOT_FOUND',
  BLOB_UPLOAD_INVALID: 'INVALID_REQUEST',
  BLOB_UPLOAD_UNKNOWN: 'NOT_FOUND',
  DIGEST_INVALID: 'INVALID_REQUEST',
  MANIFEST_BLOB_UNKNOWN: 'NOT_FOUND',
  MANIFEST_INVALID: 'INVALID_REQUEST',
  MANIFEST_UNKNOWN: 'NOT_FOUND',
  NAME_INVALID: 'INVALID_REQUEST',
  NAME_UNKNOWN: 'NOT_FOUND',
  SIZE_INVALID: 'INVALID_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  UNSUPPORTED: 'UNSUPPORTED',
  TOOMANYREQUESTS: 'TOO_MANY_REQUESTS',
  TAG_INVALID: 'INVALID_REQUEST',
  MANIFEST_UNVERIFIED: 'INVALID_REQUEST',
  RANGE_INVALID: 'INVALID_REQUEST',
  PAGINATION_NUMBER_INVALID: 'INVALID_REQUEST',
  UNKNOWN: 'UNKNOWN',
  UNAVAILABLE: 'UNAVAILABLE',
  NOT_FOUND: 'NOT_FOUND',
  MANIFEST_TOO_LARGE: 'TOO_LARGE',
} as const satisfies Record<ErrorCode, AdminErrorCode>;

/** An admin API refusal. `challenge`/`retryAfterSeconds` travel as with `AccessDeniedError`. */
export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message?: string,
    readonly detail: unknown = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? ADMIN_ERROR_TABLE[code].message);
    this.name = 'AdminError';
  }

  get status(): number {
    return ADMIN_ERROR_TABLE[this.code].status;
  }
}

/** Any thrown value as an admin error; undefined for an untyped error (answered UNKNOWN, logged). */
export function adminErrorOf(error: unknown): AdminError | undefined {
  if (error instanceof AdminError) return error;
  if (!(error instanceof RegistryError)) return undefined;
  const headers: Record<string, string> = {};
  if (error instanceof AccessDeniedError) {
    if (error.challenge) headers['WWW-Authenticate'] = formatChallenge(error.challenge);
    if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  }
  return new AdminError(FROM_REGISTRY[error.code], error.message, error.detail ?? null, headers);
}
