/**
 * The one place where errors become gRPC statuses. Every error status carries the trailer
 * `epoch-error-reason: ERROR_REASON_<reason>` so clients switch on a stable name, not a message.
 * Anything that is not a domain error is a bug (INTERNAL, generic message, logged here) unless a
 * driver or system error code says what it is: the database is unreachable (UNAVAILABLE), a
 * transaction lost a deadlock or a lock wait (ABORTED), or a disk is full (RESOURCE_EXHAUSTED).
 */
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { ErrorInfo } from "epoch-meta-client/google/rpc/error_details";
import { Status } from "epoch-meta-client/google/rpc/status";
import {
  aborted,
  cancelled,
  internal,
  isEpochError,
  resourceExhausted,
  unavailable,
  type EpochError,
  type ErrorKind,
  type ErrorReason,
} from "../errors.js";
import { logger } from "../logger.js";

export const REASON_TRAILER = "epoch-error-reason";
/** The AIP-193 trailer: a google.rpc.Status whose details hold one google.rpc.ErrorInfo. */
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";
export const ERROR_DOMAIN = "epoch-meta";
const ERROR_INFO_TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo";

const CODE_BY_KIND: Record<ErrorKind, status> = {
  not_found: status.NOT_FOUND,
  invalid_argument: status.INVALID_ARGUMENT,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  unavailable: status.UNAVAILABLE,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
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
  "ER_QUERY_INTERRUPTED",
  "SQLITE_CANTOPEN",
  "SQLITE_IOERR",
]);

/**
 * A transaction lost to another one (deadlock, lock-wait timeout, SQLite's busy/locked): the
 * database is fine and the same call may succeed at once, so ABORTED (AIP-193: retry the call),
 * not UNAVAILABLE. SQLite's extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, …)
 * are matched by prefix.
 */
const CONFLICT_CODES = new Set(["ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT"]);
const CONFLICT_PREFIXES = ["SQLITE_BUSY", "SQLITE_LOCKED"];

/** A full disk (the database's or ours): retrying does not help until someone frees space. */
const DISK_FULL_CODES = new Set(["SQLITE_FULL", "ER_DISK_FULL", "ER_RECORD_FILE_FULL", "ENOSPC"]);

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

const isConflictCode = (code: string) =>
  CONFLICT_CODES.has(code) || CONFLICT_PREFIXES.some((prefix) => code.startsWith(prefix));

/** The domain error a driver or system failure stands for, or undefined when it is not one we know. */
function classify(e: unknown): EpochError | undefined {
  for (const c of causes(e)) {
    const code = errorCode(c);
    if (code !== undefined) {
      if (isConflictCode(code))
        return aborted("the database aborted the transaction (deadlock or lock timeout); retry", "DATABASE_CONFLICT", {
          cause: e,
        });
      if (DISK_FULL_CODES.has(code)) return resourceExhausted("disk full", "DISK_FULL", { cause: e });
      if (DATABASE_UNAVAILABLE_CODES.has(code))
        return unavailable("database unavailable", "DATABASE_UNAVAILABLE", { cause: e });
    }
    // mysql2: the connection is gone
    if ((c as { fatal?: unknown }).fatal === true)
      return unavailable("database unavailable", "DATABASE_UNAVAILABLE", { cause: e });
  }
  return undefined;
}

/** Turns anything thrown into a domain error. Unknown errors become INTERNAL (cause kept for the log). */
export function toDomainError(e: unknown): EpochError {
  if (isEpochError(e)) return e;
  const known = classify(e);
  if (known) return known;
  if (e instanceof Error && e.name === "AbortError") return cancelled("call cancelled", "CANCELLED", { cause: e });
  return internal("internal error", "INTERNAL", { cause: e });
}

function reasonMetadata(reason: ErrorReason, metadata = new Metadata()): Metadata {
  metadata.set(REASON_TRAILER, `ERROR_REASON_${reason}`);
  return metadata;
}

/** ErrorInfo is the same for every status with a given reason: encoded once per reason. */
const errorInfos = new Map<ErrorReason, Buffer>();

function errorInfo(reason: ErrorReason): Buffer {
  let encoded = errorInfos.get(reason);
  if (encoded === undefined) {
    encoded = toBuffer(
      ErrorInfo.encode({ reason: `ERROR_REASON_${reason}`, domain: ERROR_DOMAIN, metadata: {} }).finish(),
    );
    errorInfos.set(reason, encoded);
  }
  return encoded;
}

/**
 * The status to send for `reason`, with both trailers: `epoch-error-reason` and the AIP-193
 * `grpc-status-details-bin` (google.rpc.Status with the same code and message, plus ErrorInfo).
 */
export function errorStatus(code: status, details: string, reason: ErrorReason): StatusObject {
  const metadata = reasonMetadata(reason);
  const rpcStatus = Status.encode({
    code,
    message: details,
    details: [{ typeUrl: ERROR_INFO_TYPE_URL, value: errorInfo(reason) }],
  }).finish();
  metadata.set(STATUS_DETAILS_TRAILER, toBuffer(rpcStatus));
  return { code, details, metadata };
}

const toBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * The status to send for an error thrown while serving `path`. Logs what the caller is not told:
 * the real error behind INTERNAL and UNAVAILABLE.
 */
export function toStatus(e: unknown, path = "unknown"): StatusObject {
  const domain = toDomainError(e);
  const code = CODE_BY_KIND[domain.kind];
  if (domain.kind === "internal") {
    logger.error({ err: e, method: path }, "internal error");
  } else if (
    domain.kind === "unavailable" ||
    domain.kind === "resource_exhausted" ||
    domain.reason === "DATABASE_CONFLICT"
  ) {
    logger.warn({ err: domain.cause ?? domain, method: path, reason: domain.reason }, "dependency failed");
  }
  // An INTERNAL status never repeats the thrown message: it may hold SQL or a stack.
  const details = domain.kind === "internal" ? "internal error" : domain.message;
  return errorStatus(code, details, domain.reason);
}
