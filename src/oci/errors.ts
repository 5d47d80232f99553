/**
 * The one error model. Anything below `http/` throws a `RegistryError` carrying a code from
 * this table; the table alone decides the HTTP status, and `http/` serialises it in one place.
 *
 * Codes are the OCI Distribution Spec v1.1 list, then the few extras registry:2 (CNCF
 * Distribution) sends that clients already understand, then Berth's own. `docs/errors.md`
 * and a unit test keep this table, the docs and the spec's list in agreement.
 */
export const ERROR_TABLE = {
  // OCI Distribution Spec v1.1, "Error Codes".
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // registry:2 extras.
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  MANIFEST_UNVERIFIED: { status: 400, message: 'manifest failed signature verification' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  // Berth's own.
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  MANIFEST_TOO_LARGE: { status: 413, message: 'manifest exceeds the size limit' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** Codes defined by the OCI Distribution Spec itself (the rest are extras). */
export const SPEC_ERROR_CODES: readonly ErrorCode[] = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID',
  'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
];

export class RegistryError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable context for the `detail` field of the error body. */
  readonly detail: unknown;

  constructor(code: ErrorCode, message?: string, detail?: unknown) {
    super(message ?? ERROR_TABLE[code].message);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = detail;
  }

  get status(): number {
    return ERROR_TABLE[this.code].status;
  }
}

export function isRegistryError(value: unknown): value is RegistryError {
  return value instanceof RegistryError;
}
