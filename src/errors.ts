/**
 * Domain errors, in the manner of containerd's errdefs: a handful of kinds, each carrying a
 * machine-readable reason. Code below `grpc/` never sees a status code; `grpc/status-map.ts`
 * is the one place that turns these into gRPC statuses and the `epoch-error-reason` trailer.
 */
export type ErrorKind =
  | "not_found"
  | "invalid_argument"
  | "already_exists"
  | "failed_precondition"
  | "aborted"
  | "unauthenticated"
  | "permission_denied"
  | "unavailable"
  | "cancelled"
  | "deadline_exceeded"
  | "unimplemented"
  | "internal";

/** The proto's `ErrorReason` values without their `ERROR_REASON_` prefix. */
export type ErrorReason =
  | "REPOSITORY_NOT_FOUND"
  | "TAG_NOT_FOUND"
  | "BLOB_NOT_FOUND"
  | "TOKEN_NOT_FOUND"
  | "SYNC_RUN_NOT_FOUND"
  | "INVALID_NAME"
  | "INVALID_DIGEST"
  | "INVALID_PAGE_TOKEN"
  | "INVALID_PAGE_SIZE"
  | "INVALID_FILTER"
  | "INVALID_ORDER_BY"
  | "INVALID_ARGUMENT"
  | "SYNC_IN_PROGRESS"
  | "SYNC_COMMITTING"
  | "SYNC_FINISHED"
  | "CATALOG_MISSING"
  | "CATALOG_INVALID"
  | "MASS_REMOVAL"
  | "CATALOG_CONFLICT"
  | "MANIFEST_MISSING"
  | "MANIFEST_INVALID"
  | "INDEX_CHILD_MISSING"
  | "LEASE_LOST"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "DATABASE_UNAVAILABLE"
  | "STORAGE_UNAVAILABLE"
  | "STORAGE_ERROR"
  | "SHUTTING_DOWN"
  | "UNIMPLEMENTED"
  | "CANCELLED"
  | "INTERNAL";

export class EpochError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly reason: ErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "EpochError";
  }
}

export const isEpochError = (e: unknown): e is EpochError => e instanceof EpochError;

const make =
  (kind: ErrorKind, fallback: ErrorReason) =>
  (message: string, reason: ErrorReason = fallback, options?: { cause?: unknown }) =>
    new EpochError(kind, reason, message, options);

export const notFound = make("not_found", "INTERNAL");
export const invalidArgument = make("invalid_argument", "INVALID_ARGUMENT");
export const alreadyExists = make("already_exists", "INVALID_ARGUMENT");
export const failedPrecondition = make("failed_precondition", "INTERNAL");
export const aborted = make("aborted", "INTERNAL");
export const unauthenticated = make("unauthenticated", "UNAUTHENTICATED");
export const permissionDenied = make("permission_denied", "PERMISSION_DENIED");
export const unavailable = make("unavailable", "DATABASE_UNAVAILABLE");
export const cancelled = make("cancelled", "CANCELLED");
export const unimplemented = make("unimplemented", "UNIMPLEMENTED");
export const internal = make("internal", "INTERNAL");

/** True for errors a caller may retry unchanged (the database or object store was unreachable). */
export const isRetryable = (e: unknown): boolean => isEpochError(e) && e.kind === "unavailable";
