/**
 * Requests grpc-js cannot decode into our messages answer INVALID_ARGUMENT with the reason
 * trailer and a log line, never INTERNAL "Error deserializing request" (#14 item 2): an integer
 * at or above 2^53 in a uint64/int64 field (valid protobuf the generated code cannot hold as a
 * number), and bytes that are not protobuf. The fuzz (fuzz.test.ts) covers every method; these
 * are the cases the issue names, on the hot path (ValidateToken) too.
 */
import { join, resolve } from "node:path";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { configureLogger, logger } from "../../src/logger.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { callError, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const PROTOS = loadSync(["epoch/v1/metadata_service.proto", "epoch/v1/token_service.proto"], {
  includeDirs: [join(resolve(import.meta.dirname, "../.."), "proto")],
  longs: String,
});
type Methods = Record<string, { requestSerialize(value: unknown): Buffer }>;
const encode = (service: string, method: string, value: unknown) =>
  (PROTOS[service] as unknown as Methods)[method]!.requestSerialize(value);

const identity = (b: Buffer) => b;

describe("requests that cannot be decoded", () => {
  let testDb: TestDatabase;
  let server: E2EServer;
  let client: Client;
  beforeAll(async () => {
    testDb = await createTestDatabase("sqlite");
    server = await startE2EServer({ databaseUrl: testDb.url });
    client = new Client(server.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
    await testDb?.drop();
  });
  afterEach(() => vi.restoreAllMocks());

  function send(path: string, bytes: Buffer, streaming = false) {
    return callError(
      new Promise((resolvePromise, reject) => {
        if (!streaming) {
          client.makeUnaryRequest(path, identity, identity, bytes, new Metadata(), (e: ServiceError | null, r) =>
            e ? reject(e) : resolvePromise(r),
          );
          return;
        }
        const stream = client.makeServerStreamRequest(path, identity, identity, bytes, new Metadata());
        stream.on("data", () => undefined);
        stream.on("error", reject);
        stream.on("end", resolvePromise);
      }),
    );
  }

  it.each([
    [
      "DeleteToken{id: 2^53}",
      "/epoch.v1.TokenService/DeleteToken",
      encode("epoch.v1.TokenService", "DeleteToken", { id: "9007199254740992" }),
    ],
    [
      "CancelSync{run_id: 2^63}",
      "/epoch.v1.MetadataService/CancelSync",
      encode("epoch.v1.MetadataService", "CancelSync", { runId: "9223372036854775808" }),
    ],
    [
      "CreateToken{ttl: 2^53+1 s}",
      "/epoch.v1.TokenService/CreateToken",
      encode("epoch.v1.TokenService", "CreateToken", { name: "ci", ttl: { seconds: "9007199254740993" } }),
    ],
  ])("%s answers INVALID_ARGUMENT with its reason and a log line", async (_name, path, bytes) => {
    const warn = vi.spyOn(logger, "warn");
    const err = await send(path, bytes);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/2\^53/);
    expect(err.reason).toBe("ERROR_REASON_INVALID_ARGUMENT");
    expect(err.rpcStatus?.errorInfos[0]?.reason).toBe("ERROR_REASON_INVALID_ARGUMENT");
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ method: path }), "request could not be decoded");
  });

  it.each([
    ["/epoch.v1.TokenService/ValidateToken", false],
    ["/epoch.v1.MetadataService/GetTag", false],
    ["/epoch.v1.MetadataService/SyncFromCatalog", true],
  ] as const)("bytes that are not protobuf sent to %s answer INVALID_ARGUMENT", async (path, streaming) => {
    // Field 1, wire type 2 (length-delimited), claiming 100 bytes that never come.
    const err = await send(path, Buffer.from([0x0a, 0x64, 0x61]), streaming);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.reason).toBe("ERROR_REASON_INVALID_ARGUMENT");
    expect(err.details).toBe(`the request is not a valid protobuf message for ${path}`);
  });

  it("still answers a well-formed request at 2^53 - 1 (the largest id that fits) normally", async () => {
    const err = await send(
      "/epoch.v1.TokenService/DeleteToken",
      encode("epoch.v1.TokenService", "DeleteToken", { id: "9007199254740991" }),
    );
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.reason).toBe("ERROR_REASON_TOKEN_NOT_FOUND");
  });
});
