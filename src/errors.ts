/**
 * Domain errors, in the manner of containerd's errdefs: a handful of kinds, each carrying a
 * machine-readable reason. Code below `grpc/` never sees a status code; `grpc/status-map.ts`
 * is the one place that turns these into gRPC statuses and the `epoch-error-reason` trailer.
 */
import type { ErrorReason as ProtoErrorReason } from "epoch-meta-client/epoch/v1/errors";

export type ErrorKind =
  | "not_found"
  | "invalid_argument"
  | "already_exists"
  | "failed_precondition"
  | "aborted"
  | "unauthenticated"
  | "permission_denied"
  | "unavailable"
  | "resource_exhausted"
  | "cancelled"
  | "deadline_exceeded"
  | "unimplemented"
  | "internal";

/**
 * The proto's `ErrorReason` values without their `ERROR_REASON_` prefix, derived from the
 * generated enum: a reason the proto lacks (or a misspelt one) fails type-checking.
 */
export type ErrorReason = WithoutPrefix<keyof typeof ProtoErrorReason>;
type WithoutPrefix<Name> = Name extends `ERROR_REASON_${infer Reason}`
  ? Reason extends "UNSPECIFIED"
    ? never
    : Reason
  : never;

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

type Options = { cause?: unknown };

/** Kinds whose reason always depends on the call site: the caller names it. */
const make = (kind: ErrorKind) => (message: string, reason: ErrorReason, options?: Options) =>
  new EpochError(kind, reason, message, options);

/** Kinds with one obvious reason, which a call site may still make more specific. */
const makeWithDefault =
  (kind: ErrorKind, fallback: ErrorReason) =>
  (message: string, reason: ErrorReason = fallback, options?: Options) =>
    new EpochError(kind, reason, message, options);

export const notFound = make("not_found");
export const invalidArgument = makeWithDefault("invalid_argument", "INVALID_ARGUMENT");
export const alreadyExists = make("already_exists");
export const failedPrecondition = make("failed_precondition");
export const aborted = make("aborted");
export const unauthenticated = makeWithDefault("unauthenticated", "UNAUTHENTICATED");
export const permissionDenied = makeWithDefault("permission_denied", "PERMISSION_DENIED");
export const unavailable = make("unavailable");
export const resourceExhausted = make("resource_exhausted");
export const cancelled = makeWithDefault("cancelled", "CANCELLED");
export const unimplemented = makeWithDefault("unimplemented", "UNIMPLEMENTED");
export const internal = makeWithDefault("internal", "INTERNAL");
