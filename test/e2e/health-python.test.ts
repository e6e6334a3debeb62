/**
 * grpc.health.v1 from an independent client: Debian's Python grpcio (/usr/bin/python3), with
 * stubs generated at test time by grpc_tools.protoc. Skipped loudly when python3-grpcio is
 * absent and cannot be installed; under CI=true that is a failure instead.
 */
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { protoPath as bundledHealthProto } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { PYTHON, requirePythonGrpc } from "../helpers/python-grpc.js";

const execFileAsync = promisify(execFile);
const DEBIAN_HEALTH_PROTO = "/usr/share/grpc-proto/grpc/health/v1/health.proto";
const available = requirePythonGrpc("health check from Python grpcio");

// The client checks each service, watches the overall one for its first message, and checks an
// unknown service (NOT_FOUND), printing one JSON object.
const CLIENT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc, health_pb2, health_pb2_grpc
with grpc.insecure_channel(sys.argv[2]) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    name = lambda s: health_pb2.HealthCheckResponse.ServingStatus.Name(s)
    out = {}
    for service in ["", "epoch.v1.MetadataService", "epoch.v1.TokenService"]:
        out[service] = name(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    out["watch"] = name(next(watch).status)
    watch.cancel()
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        out["unknown"] = "OK"
    except grpc.RpcError as e:
        out["unknown"] = e.code().name
print(json.dumps(out))
`;

describe.skipIf(!available)("grpc.health.v1 from Python grpcio", () => {
  let testDb: TestDatabase;
  let server: E2EServer;
  const work = mkdtempSync(join(tmpdir(), "epoch-pyhealth-"));

  beforeAll(async () => {
    // The proto is copied under a neutral name: generated into grpc/health/v1/ it would shadow
    // Python's own `grpc` package. The service keeps its full name (package grpc.health.v1).
    const proto = existsSync(DEBIAN_HEALTH_PROTO) ? DEBIAN_HEALTH_PROTO : bundledHealthProto;
    mkdirSync(join(work, "proto"));
    copyFileSync(proto, join(work, "proto", "health.proto"));
    const gen = spawnSync(
      PYTHON,
      [
        "-m",
        "grpc_tools.protoc",
        `-I${join(work, "proto")}`,
        `--python_out=${work}`,
        `--grpc_python_out=${work}`,
        "health.proto",
      ],
      { encoding: "utf8" },
    );
    if (gen.status !== 0) throw new Error(`grpc_tools.protoc failed: ${gen.stderr}`);
    writeFileSync(join(work, "client.py"), CLIENT);
    testDb = await createTestDatabase("sqlite");
    server = await startE2EServer({ databaseUrl: testDb.url });
  });

  afterAll(async () => {
    await server?.stop();
    await testDb?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it("answers Check and Watch: SERVING, and NOT_FOUND for an unknown service", async () => {
    // Asynchronously: the server runs in this process, so a blocking spawnSync would starve it.
    const run = await execFileAsync(PYTHON, [join(work, "client.py"), work, server.address], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({
      "": "SERVING",
      "epoch.v1.MetadataService": "SERVING",
      "epoch.v1.TokenService": "SERVING",
      watch: "SERVING",
      unknown: "NOT_FOUND",
    });
  });
});
