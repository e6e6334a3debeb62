/**
 * The one place where errors become gRPC statuses. Every error status carries the trailer
 * `epoch-error-reason: ERROR_REASON_<reason>` so clients switch on a stable name, not a message.
 * Anything that is not a domain error is a bug (INTERNAL, generic message, logged here) unless it
 * is a database driver's connection failure, which is retryable (UNAVAILABLE).
 */
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { EpochError, internal, isEpochError, unavailable, type ErrorKind, type ErrorReason } from "../errors.js";
import { logger } from "../logger.js";

export const REASON_TRAILER = "epoch-error-reason";

const CODE_BY_KIND: Record<ErrorKind, status> = {
  not_found: status.NOT_FOUND,
  invalid_argument: status.INVALID_ARGUMENT,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  unavailable: status.UNAVAILABLE,
  cancelled: status.CANCELLED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  unimplemented: status.UNIMPLEMENTED,
  internal: status.INTERNAL,
};

/** Error codes of mysql2 / better-sqlite3 / Node sockets meaning "the database is not reachable now". */
const DATABASE_UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_LOCK_DEADLOCK",
  "ER_QUERY_INTERRUPTED",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_CANTOPEN",
  "SQLITE_IOERR",
  "SQLITE_FULL",
]);

/** Walks the chain an error was wrapped in (TypeORM's `driverError`, `cause`, AggregateError). */
function* causes(e: unknown, depth = 0): Generator<unknown> {
  if (e === null || e === undefined || depth > 8) return;
  yield e;
  if (typeof e !== "object") return;
  const o = e as { driverError?: unknown; cause?: unknown; errors?: unknown };
  yield* causes(o.driverError, depth + 1);
  yield* causes(o.cause, depth + 1);
  if (Array.isArray(o.errors)) for (const inner of o.errors) yield* causes(inner, depth + 1);
}

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function isDatabaseUnavailable(e: unknown): boolean {
  for (const c of causes(e)) {
    const code = errorCode(c);
    if (code !== undefined && (DATABASE_UNAVAILABLE_CODES.has(code) || code.startsWith("SQLITE_BUSY"))) return true;
    if ((c as { fatal?: unknown }).fatal === true) return true; // mysql2: the connection is gone
  }
  return false;
}

/** Turns anything thrown into a domain error. Unknown errors become INTERNAL (cause kept for the log). */
export function toDomainError(e: unknown): EpochError {
  if (isEpochError(e)) return e;
  if (isDatabaseUnavailable(e)) return unavailable("database unavailable", "DATABASE_UNAVAILABLE", { cause: e });
  if (e instanceof Error && e.name === "AbortError")
    return new EpochError("cancelled", "CANCELLED", "call cancelled", { cause: e });
  return internal("internal error", "INTERNAL", { cause: e });
}

export function reasonMetadata(reason: ErrorReason, metadata = new Metadata()): Metadata {
  metadata.set(REASON_TRAILER, `ERROR_REASON_${reason}`);
  return metadata;
}

/**
 * The status to send for an error thrown while serving `path`. Logs what the caller is not told:
 * the real error behind INTERNAL and UNAVAILABLE.
 */
export function toStatus(e: unknown, path = "unknown"): StatusObject {
  const domain = toDomainError(e);
  const code = CODE_BY_KIND[domain.kind];
  if (domain.kind === "internal") {
    logger.error({ err: e, method: path }, "internal error");
  } else if (domain.kind === "unavailable") {
    logger.warn({ err: domain.cause ?? domain, method: path, reason: domain.reason }, "dependency unavailable");
  }
  // An INTERNAL status never repeats the thrown message: it may hold SQL or a stack.
  const details = domain.kind === "internal" ? "internal error" : domain.message;
  return { code, details, metadata: reasonMetadata(domain.reason) };
}
