import { Metadata, status } from "@grpc/grpc-js";
import { ErrorReason as ProtoErrorReason } from "epoch-meta-client/epoch/v1/errors";
import { describe, expect, it } from "vitest";
import { notFound, type ErrorReason } from "../../../src/errors.js";
import { configureLogger } from "../../../src/logger.js";
import {
  ERROR_DOMAIN,
  REASON_TRAILER,
  STATUS_DETAILS_TRAILER,
  toDomainError,
  toStatus,
} from "../../../src/grpc/status-map.js";
import { decodeRpcStatus } from "../../helpers/e2e-server.js";

configureLogger("silent");

/** The shapes drivers throw: mysql2 and better-sqlite3 put a string `code` on the error. */
const driverError = (code: string) => Object.assign(new Error(`driver: ${code}`), { code });
/** TypeORM's QueryFailedError keeps the driver's error in `driverError`. */
const queryFailed = (code: string) => Object.assign(new Error("Query failed"), { driverError: driverError(code) });

describe("status map: driver and system errors", () => {
  it.each(["ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT", "SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED"])(
    "%s is ABORTED DATABASE_CONFLICT (retryable by the caller), not UNAVAILABLE",
    (code) => {
      for (const e of [driverError(code), queryFailed(code), new Error("wrapped", { cause: driverError(code) })]) {
        const s = toStatus(e);
        expect(s.code).toBe(status.ABORTED);
        expect(s.metadata?.get(REASON_TRAILER)).toEqual(["ERROR_REASON_DATABASE_CONFLICT"]);
      }
    },
  );

  it.each(["SQLITE_FULL", "ER_DISK_FULL", "ER_RECORD_FILE_FULL", "ENOSPC"])(
    "%s is RESOURCE_EXHAUSTED DISK_FULL, not UNAVAILABLE",
    (code) => {
      for (const e of [driverError(code), queryFailed(code)]) {
        const s = toStatus(e);
        expect(s.code).toBe(status.RESOURCE_EXHAUSTED);
        expect(s.metadata?.get(REASON_TRAILER)).toEqual(["ERROR_REASON_DISK_FULL"]);
      }
    },
  );

  it.each(["ECONNREFUSED", "PROTOCOL_CONNECTION_LOST", "ER_CON_COUNT_ERROR", "SQLITE_CANTOPEN"])(
    "%s is UNAVAILABLE DATABASE_UNAVAILABLE",
    (code) => {
      const s = toStatus(queryFailed(code));
      expect(s.code).toBe(status.UNAVAILABLE);
      expect(s.metadata?.get(REASON_TRAILER)).toEqual(["ERROR_REASON_DATABASE_UNAVAILABLE"]);
    },
  );

  it("treats a fatal mysql2 error as UNAVAILABLE, an AbortError as CANCELLED, anything else as INTERNAL", () => {
    expect(toDomainError(Object.assign(new Error("gone"), { fatal: true })).kind).toBe("unavailable");
    expect(toDomainError(new DOMException("call cancelled", "AbortError")).kind).toBe("cancelled");
    const unknown = toStatus(driverError("ER_PARSE_ERROR"));
    expect(unknown.code).toBe(status.INTERNAL);
    expect(unknown.details).toBe("internal error");
  });
});

describe("status map: AIP-193 details", () => {
  it("sends a google.rpc.Status with the same code and message and one ErrorInfo", () => {
    const s = toStatus(notFound("tag a:b not found", "TAG_NOT_FOUND"));
    const [bytes] = (s.metadata as Metadata).get(STATUS_DETAILS_TRAILER);
    expect(bytes).toBeInstanceOf(Buffer);
    expect(decodeRpcStatus(bytes as Buffer)).toEqual({
      code: status.NOT_FOUND,
      message: "tag a:b not found",
      errorInfos: [{ reason: "ERROR_REASON_TAG_NOT_FOUND", domain: ERROR_DOMAIN, metadata: {} }],
      otherDetails: [],
    });
  });

  it("names in ErrorInfo.reason exactly the trailer's value, for every reason of the proto", () => {
    const reasons = Object.keys(ProtoErrorReason)
      .filter((name) => name.startsWith("ERROR_REASON_") && name !== "ERROR_REASON_UNSPECIFIED")
      .map((name) => name.slice("ERROR_REASON_".length) as ErrorReason);
    expect(reasons.length).toBeGreaterThan(30);
    for (const reason of reasons) {
      const s = toStatus(notFound("x", reason));
      const [trailer] = s.metadata!.get(REASON_TRAILER);
      const [details] = s.metadata!.get(STATUS_DETAILS_TRAILER);
      expect(decodeRpcStatus(details as Buffer).errorInfos[0]?.reason).toBe(trailer);
      expect(trailer).toBe(`ERROR_REASON_${reason}`);
    }
  });

  it("rejects a reason the proto lacks at compile time", () => {
    // @ts-expect-error -- a misspelt reason is not an ErrorReason (type-checked by `npm run typecheck`)
    const misspelt: ErrorReason = "TAG_NOT_FUOND";
    expect(misspelt).toBe("TAG_NOT_FUOND");
  });
});
