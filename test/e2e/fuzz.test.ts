/**
 * Fuzzes every unary and server-streaming method of every service the server registers
 * (epoch.v1 and grpc.health.v1), listed from the service definitions, so a new RPC is fuzzed
 * without editing this file. Two kinds of input, through a raw grpc-js client with identity
 * serializers: well-formed requests with random field values (generated from the proto's own
 * descriptors: huge and negative integers, odd Unicode, names that almost pass), and raw random
 * bytes. Asserted for every call: never INTERNAL or UNKNOWN; every error status of an epoch.v1
 * method carries the `epoch-error-reason` trailer and the matching AIP-193 ErrorInfo; and at the
 * end every service is still SERVING. Fixed seeds: a failure reproduces.
 *
 * Reflection is left out: it is a bidirectional stream served by @grpc/reflection, which decodes
 * its own messages.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client, credentials, Metadata, status, type MethodDefinition, type ServiceError } from "@grpc/grpc-js";
import { loadSync, type MessageTypeDefinition, type PackageDefinition } from "@grpc/proto-loader";
import fc from "fast-check";
import { protoPath as healthProtoPath, service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureLogger } from "../../src/logger.js";
import { REASON_TRAILER, STATUS_DETAILS_TRAILER } from "../../src/grpc/status-map.js";
import { openObjectStore } from "../../src/storage/open-store.js";
import { writeRegistryFixture } from "../fixtures/registry-fixture.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { decodeRpcStatus, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const REPO_ROOT = resolve(import.meta.dirname, "../..");
const STRUCTURED_RUNS = 90;
const RAW_RUNS = 50;

/** What the fuzz needs of a method; the generated definitions and grpc-health-check's both have it. */
type AnyMethod = Pick<MethodDefinition<unknown, unknown>, "path" | "requestStream" | "responseStream">;
/**
 * Every epoch.v1 service, from every `*_service.proto` in proto/epoch/v1: a new service, like a
 * new RPC, is fuzzed without editing this file. (On the open loopback server the caller counts as
 * a system admin; random storage URLs are only validated and stored; random collections run for
 * real on the fixture registry, with a random grace period, often 0.)
 */
const SERVICE_PROTOS = readdirSync(join(REPO_ROOT, "proto", "epoch", "v1"))
  .filter((f) => f.endsWith("_service.proto"))
  .sort()
  .map((f) => `epoch/v1/${f}`);

/** The descriptors of every request message, from the same .proto files the server is generated from. */
const PROTOS: PackageDefinition = loadSync([...SERVICE_PROTOS, "health/v1/health.proto"], {
  includeDirs: [join(REPO_ROOT, "proto"), resolve(healthProtoPath, "../../..")],
  longs: String,
  enums: Number,
});

/** proto-loader's entry for a service: its methods by name (a message entry has a `format`). */
const isService = (d: unknown): d is Record<string, AnyMethod> =>
  typeof d === "object" && d !== null && !("format" in d) && Object.values(d).every((m) => "path" in (m as object));

const SERVICES: Array<{ name: string; definition: Record<string, AnyMethod>; withReason: boolean }> = [
  ...Object.entries(PROTOS)
    .filter(([name, d]) => name.startsWith("epoch.v1.") && isService(d))
    .map(([name, d]) => ({ name, definition: d as Record<string, AnyMethod>, withReason: true })),
  // Health answers NOT_FOUND for an unknown service name as the health protocol says, without
  // our reason trailer; it is fuzzed for "never INTERNAL" only.
  { name: "grpc.health.v1.Health", definition: healthService as Record<string, AnyMethod>, withReason: false },
];
const METHODS = SERVICES.flatMap(({ definition, withReason }) =>
  Object.values(definition)
    .filter((m) => !m.requestStream)
    .map((m) => ({ method: m, withReason })),
);

interface FieldDescriptor {
  name: string;
  type: string;
  label: string;
  typeName: string;
}

const TWO_53 = 2n ** 53n;
const longValue = (signed: boolean) =>
  fc
    .oneof(
      fc.bigInt({ min: 0n, max: 20n }),
      fc.constantFrom(TWO_53 - 1n, TWO_53, TWO_53 + 1n, 2n ** 63n - 1n),
      signed ? fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) : fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    )
    .map(String);
const int32Value = fc.oneof(fc.integer({ min: -3, max: 1100 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const stringValue = fc.oneof(
  fc.constantFrom(
    "",
    "library/app",
    "team/app/api",
    "latest",
    "Latest",
    "v1.0",
    `sha256:${"a".repeat(64)}`,
    "sha256:ABC",
    "admin",
    "pull",
    "push",
    "delete",
    "service",
    "name~=^(a+)+$",
    'name=="latest"',
    "kind==ARTIFACT_KIND_SNAPSHOT",
    "push_time desc",
    "total_size desc",
    "epm_0000000000000000000000000000000000000000000000000",
    "epoch.v1.MetadataService",
    "a".repeat(300),
    'labels."env"==prod',
    "labels.env",
    'labels."a b"~="("',
    "labels",
    "labels.team",
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
);

type MessageDescriptor = { field: FieldDescriptor[] };

function messageArbitrary(descriptor: MessageDescriptor, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of descriptor.field) {
    if (isMapField(f)) {
      // Every map in the protos is map<string, string> (labels).
      fields[f.name] = fc.dictionary(fc.oneof(labelKey, stringValue), stringValue, { maxKeys: 4 });
      continue;
    }
    const value = fieldArbitrary(f, depth);
    if (value) fields[f.name] = f.label === "LABEL_REPEATED" ? fc.array(value, { maxLength: 4 }) : value;
  }
  return fc.record(fields, { requiredKeys: [] });
}

const labelKey = fc.constantFrom("env", "team", "labels.x", "bad key", "", "k".repeat(1025), "é");

/** proto-loader names types of the same package relatively ("LeaseResource"), others in full. */
const definitionOf = (typeName: string) => {
  const name = typeName.replace(/^\./, "");
  return (PROTOS[name] ?? PROTOS[`epoch.v1.${name}`]) as MessageTypeDefinition<unknown, unknown> | undefined;
};

/** proto-loader describes a map as a repeated message whose entry type it does not export. */
const isMapField = (f: FieldDescriptor) =>
  f.type === "TYPE_MESSAGE" && f.label === "LABEL_REPEATED" && !definitionOf(f.typeName);

const descriptorOf = (typeName: string) => definitionOf(typeName)!.type as MessageDescriptor;

function fieldArbitrary(f: FieldDescriptor, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (f.type) {
    case "TYPE_STRING":
      return stringValue;
    case "TYPE_BOOL":
      return fc.boolean();
    case "TYPE_INT32":
    case "TYPE_SINT32":
    case "TYPE_ENUM":
      return int32Value;
    case "TYPE_UINT32":
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case "TYPE_INT64":
    case "TYPE_SINT64":
      return longValue(true);
    case "TYPE_UINT64":
      return longValue(false);
    case "TYPE_BYTES":
      return fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b));
    case "TYPE_MESSAGE":
      return depth < 3 ? messageArbitrary(descriptorOf(f.typeName), depth + 1) : undefined;
    default:
      throw new Error(`the fuzz cannot generate ${f.type} (field ${f.name}): teach it`);
  }
}

/** Random well-formed bytes of the method's request message. */
function structuredRequest(path: string): fc.Arbitrary<Buffer> {
  const [, service, name] = path.split("/");
  const method = (
    PROTOS[service!] as Record<
      string,
      { requestType: MessageTypeDefinition<unknown, unknown>; requestSerialize(v: unknown): Buffer }
    >
  )[name!];
  if (!method) throw new Error(`${path} is not in the fuzz's protos: add its .proto file to PROTOS`);
  const descriptor = method.requestType.type as MessageDescriptor;
  return messageArbitrary(descriptor).map((value) => method.requestSerialize(value));
}

/** Random bytes, and valid-looking starts followed by garbage. */
const rawRequest = fc
  .oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc
      .tuple(fc.constantFrom(0x08, 0x0a, 0x10, 0x12, 0x18, 0x22), fc.uint8Array({ maxLength: 24 }))
      .map(([tag, rest]) => Uint8Array.from([tag, ...rest])),
  )
  .map((b) => Buffer.from(b));

interface Outcome {
  code: number;
  details: string;
  reason: string | undefined;
  errorInfoReason: string | undefined;
}

const identity = (b: Buffer) => b;

/** Streams that never end by design: their first message, or a quiet wait, is the answer. */
const isEndlessStream = (path: string) => path.endsWith("/Watch") || path.endsWith("/WatchEvents");

function invoke(client: Client, method: AnyMethod, bytes: Buffer): Promise<Outcome> {
  // An endless stream that accepted its request just waits: a short deadline ends the case.
  const endless = isEndlessStream(method.path);
  const deadline = Date.now() + (endless ? 500 : 20_000);
  return new Promise((resolvePromise) => {
    const settle = (e: ServiceError | null) => {
      if (!e || (endless && e.code === status.DEADLINE_EXCEEDED))
        return resolvePromise({ code: status.OK, details: "", reason: undefined, errorInfoReason: undefined });
      const [reason] = e.metadata?.get(REASON_TRAILER) ?? [];
      const [details] = e.metadata?.get(STATUS_DETAILS_TRAILER) ?? [];
      resolvePromise({
        code: e.code,
        details: e.details,
        reason: reason === undefined ? undefined : String(reason),
        errorInfoReason: details instanceof Buffer ? decodeRpcStatus(details).errorInfos[0]?.reason : undefined,
      });
    };
    if (!method.responseStream) {
      client.makeUnaryRequest(method.path, identity, identity, bytes, new Metadata(), { deadline }, settle);
      return;
    }
    const stream = client.makeServerStreamRequest(method.path, identity, identity, bytes, new Metadata(), {
      deadline,
    });
    let settled = false;
    stream.on("data", () => {
      if (endless && !settled) {
        settled = true;
        stream.cancel();
        settle(null);
      }
    });
    stream.on("error", (e: ServiceError) => {
      if (!settled) settle(e);
      settled = true;
    });
    stream.on("end", () => {
      if (!settled) settle(null);
      settled = true;
    });
  });
}

describe("fuzz: every method, random field values and random bytes", () => {
  it("found the services from the proto files (the discovery itself works)", () => {
    expect(SERVICES.map((x) => x.name)).toEqual(
      expect.arrayContaining(["epoch.v1.MetadataService", "epoch.v1.TokenService", "epoch.v1.UploadService"]),
    );
    for (const { definition } of SERVICES) expect(Object.keys(definition).length).toBeGreaterThan(0);
  });

  let testDb: TestDatabase;
  let registryDir: string;
  let server: E2EServer;
  let client: Client;
  let calls = 0;

  beforeAll(async () => {
    registryDir = mkdtempSync(join(tmpdir(), "epoch-fuzz-registry-"));
    await writeRegistryFixture(openObjectStore(`file:${registryDir}`));
    testDb = await createTestDatabase("sqlite");
    server = await startE2EServer({ databaseUrl: testDb.url, storageUrl: `file:${registryDir}` });
    client = new Client(server.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
    await testDb?.drop();
    rmSync(registryDir, { recursive: true, force: true });
  });

  function check(path: string, withReason: boolean, o: Outcome): void {
    calls++;
    expect(o.code, `${path}: ${o.details}`).not.toBe(status.INTERNAL);
    expect(o.code, `${path}: ${o.details}`).not.toBe(status.UNKNOWN);
    if (withReason && o.code !== status.OK) {
      expect(o.reason, `${path}: ${status[o.code]} ${o.details}`).toMatch(/^ERROR_REASON_[A-Z_]+$/);
      expect(o.errorInfoReason, `${path}: ErrorInfo`).toBe(o.reason);
    }
  }

  it.each(METHODS.map(({ method, withReason }) => [method.path, method, withReason] as const))(
    "%s",
    async (path, method, withReason) => {
      await fc.assert(
        fc.asyncProperty(structuredRequest(path), async (bytes) =>
          check(path, withReason, await invoke(client, method, bytes)),
        ),
        { seed: 14, numRuns: STRUCTURED_RUNS },
      );
      await fc.assert(
        fc.asyncProperty(rawRequest, async (bytes) => check(path, withReason, await invoke(client, method, bytes))),
        { seed: 1414, numRuns: RAW_RUNS },
      );
    },
    60_000,
  );

  it("left every service SERVING, after a few thousand calls", async () => {
    expect(calls).toBeGreaterThanOrEqual(METHODS.length * (STRUCTURED_RUNS + RAW_RUNS));
    expect(calls).toBeGreaterThan(2000);
    for (const name of ["", "epoch.v1.MetadataService", "epoch.v1.TokenService"])
      expect(await server.health.check(name), name).toBe("SERVING");
  });
});
