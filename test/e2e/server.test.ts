/**
 * The server foundation end to end: health, reflection, API authentication, UNIMPLEMENTED
 * answers, shutdown, TLS, and the `epoch-meta serve` process (signals, one-line failures).
 * Component-level cases use startServer with fakes (a database whose ping we control, a token
 * lookup with fixed tokens); the rest run createApp over a real SQLite database.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Client, credentials, Metadata, status, type ChannelCredentials } from "@grpc/grpc-js";
import {
  MetadataServiceClient,
  ListTagsRequest,
  MetadataServiceService,
  SyncFromCatalogRequest,
  type SyncFromCatalogResponse,
  type GetStatsResponse,
  type GetTagResponse,
  type MetadataServiceServer,
} from "epoch-meta-client/epoch/v1/metadata_service";
import { Tag } from "epoch-meta-client/epoch/v1/resources";
import {
  CreateTokenRequest,
  TokenServiceClient,
  TokenServiceService,
  type CreateTokenResponse,
} from "epoch-meta-client/epoch/v1/token_service";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { failedPrecondition, notFound, unavailable } from "../../src/errors.js";
import { serverStream, unary } from "../../src/grpc/handlers.js";
import { configureLogger } from "../../src/logger.js";
import { startServer, type RunningServer, type ServerDeps } from "../../src/server.js";
import type { TokenLookup, TokenRecord } from "../../src/services/tokens/token-lookup.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import {
  call,
  callError,
  callMetadata,
  collect,
  HealthClient,
  reflectionServicesAt,
  startE2EServer,
  type E2EServer,
} from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const REPO_ROOT = resolve(import.meta.dirname, "../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const TOKENS: Record<string, TokenRecord> = {
  "admin-secret": { id: 1, namespaceId: 1, name: "admin", scopes: ["admin"], repositories: [] },
  "service-secret": { id: 2, namespaceId: 1, name: "service", scopes: ["service"], repositories: [] },
  "pull-secret": { id: 3, namespaceId: 1, name: "pull", scopes: ["pull", "push", "delete"], repositories: [] },
};
/** Answers asynchronously (like the real cache on a miss) so the interceptor's async path is exercised. */
const fakeTokens: TokenLookup = {
  async lookup(secret) {
    await sleep(5);
    if (secret === "db-down") throw unavailable("database unavailable", "DATABASE_UNAVAILABLE");
    return TOKENS[secret] ?? null;
  },
};

class FakeDb {
  healthy = true;
  closed = false;
  async ping() {
    if (!this.healthy) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  }
  async close() {
    this.closed = true;
  }
}

interface Harness {
  server: RunningServer;
  db: FakeDb;
  health: HealthClient;
  metadata: MetadataServiceClient;
  tokens: TokenServiceClient;
  reflect: (md?: Metadata) => Promise<string[]>;
  close(): Promise<void>;
}

async function harness(env: Record<string, string> = {}, deps: Partial<ServerDeps> = {}): Promise<Harness> {
  const config = loadConfig({ EPOCH_LISTEN: "127.0.0.1:0", EPOCH_LOG_LEVEL: "silent", ...env });
  const db = new FakeDb();
  const server = await startServer(config, { db, tokenLookup: fakeTokens, healthProbe: { intervalMs: 30 }, ...deps });
  const address = `127.0.0.1:${server.port}`;
  const creds = credentials.createInsecure();
  const metadata = new MetadataServiceClient(address, creds);
  const tokens = new TokenServiceClient(address, creds);
  const health = new HealthClient(address, creds);
  return {
    server,
    db,
    health,
    metadata,
    tokens,
    reflect: (md) => reflectionServicesAt(address, creds, md),
    close: async () => {
      for (const c of [metadata, tokens, health.client]) c.close();
      await server.shutdown();
    },
  };
}

const getStats = (h: { metadata: MetadataServiceClient }, md = new Metadata()) =>
  call<GetStatsResponse>((cb) => h.metadata.getStats({}, md, cb));
const getTag = (h: { metadata: MetadataServiceClient }, md = new Metadata()) =>
  call<GetTagResponse>((cb) => h.metadata.getTag({ repository: "team/app", tag: "v1" }, md, cb));
const createToken = (h: { tokens: TokenServiceClient }, md = new Metadata()) =>
  call<CreateTokenResponse>((cb) => h.tokens.createToken(CreateTokenRequest.fromPartial({ name: "x" }), md, cb));
const syncFromCatalog = (h: { metadata: MetadataServiceClient }, md = new Metadata()) =>
  collect(h.metadata.syncFromCatalog(SyncFromCatalogRequest.fromPartial({}), md));

describe("health", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it("reports the process and the database-backed services as SERVING", async () => {
    h = await harness();
    expect(await h.health.check("")).toBe("SERVING");
    expect(await h.health.check("epoch.v1.MetadataService")).toBe("SERVING");
    expect(await h.health.check("epoch.v1.TokenService")).toBe("SERVING");
    const err = await callError(h.health.check("no.such.Service"));
    expect(err.code).toBe(status.NOT_FOUND);
  });

  it("takes only the epoch.v1 services out while the database is unreachable", async () => {
    h = await harness();
    const watch = h.health.watch("epoch.v1.TokenService");
    const seen: string[] = [];
    watch.on("data", (m: { status: string }) => seen.push(m.status));
    watch.on("error", () => undefined);
    // The watch's first answer before the outage, so it cannot start at NOT_SERVING. The margins
    // are generous: the probe runs on a timer, and a loaded CI machine delays it.
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual(["SERVING"]);
    h.db.healthy = false;
    await expect.poll(() => h.health.check("epoch.v1.MetadataService"), { timeout: 10_000 }).toBe("NOT_SERVING");
    expect(await h.health.check("epoch.v1.TokenService")).toBe("NOT_SERVING");
    expect(await h.health.check("")).toBe("SERVING");
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual(["SERVING", "NOT_SERVING"]);
    h.db.healthy = true;
    await expect.poll(() => h.health.check("epoch.v1.MetadataService"), { timeout: 10_000 }).toBe("SERVING");
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    watch.cancel();
  });

  it("goes NOT_SERVING at the start of shutdown and ends Watch streams without waiting for the timeout", async () => {
    h = await harness({ EPOCH_SHUTDOWN_TIMEOUT: "10s" });
    const watch = h.health.watch("");
    const seen: string[] = [];
    watch.on("data", (m: { status: string }) => seen.push(m.status));
    const ended = new Promise<void>((res, rej) => {
      watch.on("end", res);
      watch.on("error", rej);
    });
    await expect.poll(() => seen).toEqual(["SERVING"]);
    const started = Date.now();
    await h.server.shutdown();
    await ended;
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(h.db.closed).toBe(true);
  });

  it("is open without credentials when authentication is required", async () => {
    h = await harness({ EPOCH_AUTH: "required" });
    expect(await h.health.check("")).toBe("SERVING");
  });
});

describe("shutdown", () => {
  it("lets running calls finish, then runs hooks, then closes the database", async () => {
    const events: string[] = [];
    const entered = deferred();
    const release = deferred();
    const impl = {
      getStats: unary<unknown, GetStatsResponse>(async () => {
        events.push("call started");
        entered.resolve();
        await release.promise;
        events.push("call finished");
        return { repositoryCount: 7, tagCount: 0, blobCount: 0, totalSize: 0, lastSyncTime: undefined, kinds: [] };
      }),
    };
    const h = await harness(
      {},
      {
        services: { metadata: impl as unknown as MetadataServiceServer },
        beforeDrain: [() => void events.push("beforeDrain")],
        afterDrain: [() => void events.push("afterDrain")],
      },
    );
    const running = getStats(h);
    await entered.promise;
    const stopping = h.server.shutdown();
    await sleep(50);
    // New connections are refused while the running call drains.
    const late = new HealthClient(`127.0.0.1:${h.server.port}`, credentials.createInsecure());
    const refused = await callError(late.check("", new Metadata()));
    expect(refused.code).toBe(status.UNAVAILABLE);
    late.client.close();
    expect(h.db.closed).toBe(false);
    release.resolve();
    expect((await running).repositoryCount).toBe(7);
    await stopping;
    expect(h.db.closed).toBe(true);
    expect(events).toEqual(["call started", "beforeDrain", "call finished", "afterDrain"]);
  });

  it("cancels calls still running at EPOCH_SHUTDOWN_TIMEOUT (their AbortSignal fires)", async () => {
    let aborted = false;
    const impl = {
      getStats: unary<unknown, GetStatsResponse>(
        (_req, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              aborted = true;
              reject(new Error("aborted"));
            }),
          ),
      ),
    };
    const h = await harness(
      { EPOCH_SHUTDOWN_TIMEOUT: "300ms" },
      { services: { metadata: impl as unknown as MetadataServiceServer } },
    );
    const running = callError(getStats(h));
    await sleep(50);
    const started = Date.now();
    await h.server.shutdown();
    expect(Date.now() - started).toBeLessThan(2000);
    expect([status.CANCELLED, status.UNAVAILABLE]).toContain((await running).code);
    expect(aborted).toBe(true);
    for (const c of [h.metadata, h.tokens, h.health.client]) c.close();
  });
});

describe("reflection", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it("lists both epoch.v1 services (and health)", async () => {
    h = await harness();
    const services = await h.reflect();
    expect(services).toEqual(
      expect.arrayContaining(["epoch.v1.MetadataService", "epoch.v1.TokenService", "grpc.health.v1.Health"]),
    );
  });

  it("follows the read rule when authentication is required", async () => {
    h = await harness({ EPOCH_AUTH: "required" });
    expect((await callError(h.reflect())).code).toBe(status.UNAUTHENTICATED);
    expect((await callError(h.reflect(callMetadata("pull-secret")))).code).toBe(status.PERMISSION_DENIED);
    expect(await h.reflect(callMetadata("service-secret"))).toContain("epoch.v1.MetadataService");
  });
});

describe("API authentication (EPOCH_AUTH=required)", () => {
  let h: Harness;
  beforeAll(async () => {
    const metadata = {
      // Echoes what the handler sees, so the test can check identity and header removal.
      getTag: unary<{ repository: string; tag: string }, GetTagResponse>(async (req, ctx) => ({
        tag: Tag.fromPartial({
          repository: req.repository,
          name: req.tag,
          digest: `caller=${ctx.caller?.id ?? "none"};authorization=${ctx.metadata.get("authorization").length}`,
        }),
      })),
    };
    h = await harness(
      { EPOCH_AUTH: "required" },
      { services: { metadata: metadata as unknown as MetadataServiceServer } },
    );
  });
  afterAll(async () => h?.close());

  it("refuses a call without a credential: UNAUTHENTICATED with the reason trailer", async () => {
    const err = await callError(getStats(h));
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.reason).toBe("ERROR_REASON_UNAUTHENTICATED");
    // The interceptor's refusal carries the AIP-193 details too.
    expect(err.rpcStatus?.errorInfos[0]).toMatchObject({
      reason: "ERROR_REASON_UNAUTHENTICATED",
      domain: "epoch-meta",
    });
  });

  it.each([["Bearer nope"], ["Basic YWRtaW46YWRtaW4="], ["admin-secret"], ["Bearer "]])(
    "refuses authorization %j",
    async (value) => {
      const md = new Metadata();
      md.set("authorization", value);
      const err = await callError(getStats(h, md));
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(err.reason).toBe("ERROR_REASON_UNAUTHENTICATED");
    },
  );

  it("refuses a pull/push/delete token everywhere: PERMISSION_DENIED", async () => {
    for (const attempt of [getStats, getTag, createToken, syncFromCatalog]) {
      const err = await callError(attempt(h, callMetadata("pull-secret")));
      expect(err.code).toBe(status.PERMISSION_DENIED);
      expect(err.reason).toBe("ERROR_REASON_PERMISSION_DENIED");
    }
  });

  it("lets a service token read, and hands the handler the caller but not the secret", async () => {
    const res = await getTag(h, callMetadata("service-secret"));
    expect(res.tag).toMatchObject({ repository: "team/app", name: "v1", digest: "caller=2;authorization=0" });
  });

  it("keeps admin-only methods from a service token", async () => {
    for (const attempt of [createToken, syncFromCatalog]) {
      const err = await callError(attempt(h, callMetadata("service-secret")));
      expect(err.code).toBe(status.PERMISSION_DENIED);
    }
  });

  it("lets an admin token call everything (unbuilt methods then answer UNIMPLEMENTED)", async () => {
    expect((await getTag(h, callMetadata("admin-secret"))).tag?.digest).toBe("caller=1;authorization=0");
    for (const attempt of [getStats, createToken, syncFromCatalog]) {
      const err = await callError(attempt(h, callMetadata("admin-secret")));
      expect(err.code).toBe(status.UNIMPLEMENTED);
      expect(err.reason).toBe("ERROR_REASON_UNIMPLEMENTED");
    }
  });

  it("answers UNAVAILABLE when the token store cannot be reached", async () => {
    const err = await callError(getStats(h, callMetadata("db-down")));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.reason).toBe("ERROR_REASON_DATABASE_UNAVAILABLE");
  });
});

describe("EPOCH_AUTH modes", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("auto on loopback serves without credentials", async () => {
    h = await harness({ EPOCH_AUTH: "auto" });
    expect((await callError(getStats(h))).code).toBe(status.UNIMPLEMENTED);
  });

  it("auto on a wildcard address requires credentials", async () => {
    h = await harness({ EPOCH_AUTH: "auto", EPOCH_LISTEN: "0.0.0.0:0" });
    expect((await callError(getStats(h))).code).toBe(status.UNAUTHENTICATED);
    expect((await callError(getStats(h, callMetadata("service-secret")))).code).toBe(status.UNIMPLEMENTED);
  });

  it("none on a wildcard address needs EPOCH_AUTH_ALLOW_OPEN=true", async () => {
    expect(() => loadConfig({ EPOCH_AUTH: "none", EPOCH_LISTEN: "0.0.0.0:0" })).toThrow(/EPOCH_AUTH_ALLOW_OPEN/);
    h = await harness({ EPOCH_AUTH: "none", EPOCH_LISTEN: "0.0.0.0:0", EPOCH_AUTH_ALLOW_OPEN: "true" });
    expect((await callError(createToken(h))).code).toBe(status.UNIMPLEMENTED);
  });
});

describe("createApp over SQLite", () => {
  let testDb: TestDatabase;
  let s: E2EServer;
  beforeAll(async () => {
    testDb = await createTestDatabase("sqlite");
    s = await startE2EServer({ databaseUrl: testDb.url });
  });
  afterAll(async () => {
    await s?.stop();
    await testDb?.drop();
  });

  it("serves health and reflection", async () => {
    expect(await s.health.check("")).toBe("SERVING");
    expect(await s.health.check("epoch.v1.MetadataService")).toBe("SERVING");
    expect(await s.reflectionServices()).toEqual(
      expect.arrayContaining(["epoch.v1.MetadataService", "epoch.v1.TokenService"]),
    );
  });
});

describe("error mapping (status-map via the handler adapters)", () => {
  let h: Harness;
  let streamed: number;
  beforeAll(async () => {
    const metadata = {
      getTag: unary(async () => {
        throw notFound("tag team/app:v1 not found", "TAG_NOT_FOUND");
      }),
      getStats: unary(async () => {
        throw new Error("SQLITE_ERROR: no such column secret_hash in SELECT secret_hash FROM tokens");
      }),
      // The shape TypeORM gives a driver failure: a QueryFailedError wrapping the driver's error.
      getRepository: unary(async () => {
        throw Object.assign(new Error("Query failed"), {
          driverError: Object.assign(new Error("busy"), { code: "SQLITE_BUSY" }),
        });
      }),
      listTags: unary(async () => {
        throw Object.assign(new Error("Connection lost: The server closed the connection."), {
          code: "PROTOCOL_CONNECTION_LOST",
        });
      }),
      syncFromCatalog: serverStream<unknown, SyncFromCatalogResponse>(async (_req, send) => {
        await send({ event: { $case: "started", started: { runId: 9, mode: 0, joined: false, dryRun: false } } });
        streamed++;
        throw failedPrecondition("sync already committing", "SYNC_COMMITTING");
      }),
    };
    streamed = 0;
    h = await harness({}, { services: { metadata: metadata as unknown as MetadataServiceServer } });
  });
  afterAll(async () => h?.close());

  it("maps domain errors to their code, message and reason", async () => {
    const err = await callError(getTag(h));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe("tag team/app:v1 not found");
    expect(err.reason).toBe("ERROR_REASON_TAG_NOT_FOUND");
  });

  it("sends google.rpc.Status details with an ErrorInfo (AIP-193) beside the reason trailer", async () => {
    const err = await callError(getTag(h));
    expect(err.rpcStatus).toEqual({
      code: status.NOT_FOUND,
      message: "tag team/app:v1 not found",
      errorInfos: [{ reason: "ERROR_REASON_TAG_NOT_FOUND", domain: "epoch-meta", metadata: {} }],
      otherDetails: [],
    });
    const internalError = await callError(getStats(h));
    expect(internalError.rpcStatus?.message).toBe("internal error");
    expect(internalError.rpcStatus?.errorInfos).toEqual([
      { reason: "ERROR_REASON_INTERNAL", domain: "epoch-meta", metadata: {} },
    ]);
  });

  it("turns unknown errors into INTERNAL without repeating their message (no SQL on the wire)", async () => {
    const err = await callError(getStats(h));
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe("internal error");
    expect(err.reason).toBe("ERROR_REASON_INTERNAL");
  });

  it("answers UNAVAILABLE DATABASE_UNAVAILABLE for a lost MySQL connection", async () => {
    const err = await callError(
      call((cb) => h.metadata.listTags(ListTagsRequest.fromPartial({ repository: "a" }), cb)),
    );
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.reason).toBe("ERROR_REASON_DATABASE_UNAVAILABLE");
    expect(err.details).toBe("database unavailable");
  });

  it("answers ABORTED DATABASE_CONFLICT for a wrapped SQLITE_BUSY (the caller retries)", async () => {
    const err = await callError(call((cb) => h.metadata.getRepository({ name: "a" }, cb)));
    expect(err.code).toBe(status.ABORTED);
    expect(err.reason).toBe("ERROR_REASON_DATABASE_CONFLICT");
    expect(err.rpcStatus?.errorInfos[0]?.reason).toBe("ERROR_REASON_DATABASE_CONFLICT");
  });

  it("ends a stream with the error status and reason after the messages already sent", async () => {
    const stream = h.metadata.syncFromCatalog(SyncFromCatalogRequest.fromPartial({}));
    const received: unknown[] = [];
    stream.on("data", (m) => received.push(m));
    const err = await callError(collect(stream));
    expect(streamed).toBe(1);
    expect(received).toHaveLength(1);
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.reason).toBe("ERROR_REASON_SYNC_COMMITTING");
  });
});

describe("capabilities not built yet", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(async () => h?.close());

  // Every method of both services, through a generic client, so a method added to the proto is covered too.
  const methods = [...Object.values(MetadataServiceService), ...Object.values(TokenServiceService)];
  it.each(methods.map((m) => [m.path, m] as const))(
    "%s answers UNIMPLEMENTED with its reason (no fake data)",
    async (_path, m) => {
      const client = new Client(`127.0.0.1:${h.server.port}`, credentials.createInsecure());
      const request = m.requestDeserialize(Buffer.alloc(0));
      const attempt = m.responseStream
        ? collect(client.makeServerStreamRequest(m.path, m.requestSerialize as never, m.responseDeserialize, request))
        : call((cb) =>
            client.makeUnaryRequest(m.path, m.requestSerialize as never, m.responseDeserialize, request, cb),
          );
      const err = await callError(attempt);
      client.close();
      expect(err.code).toBe(status.UNIMPLEMENTED);
      expect(err.reason).toBe("ERROR_REASON_UNIMPLEMENTED");
      expect(err.rpcStatus?.errorInfos).toEqual([
        { reason: "ERROR_REASON_UNIMPLEMENTED", domain: "epoch-meta", metadata: {} },
      ]);
      expect(err.details).toMatch(/not implemented yet/);
    },
  );
});

describe("TLS", () => {
  const openssl = spawnSync("openssl", ["version"]).status === 0;
  if (!openssl) console.warn("*** SKIPPED: TLS tests — openssl not found ***");
  const dir = mkdtempSync(join(tmpdir(), "epoch-tls-"));
  const file = (name: string) => join(dir, name);
  let testDb: TestDatabase;

  beforeAll(async () => {
    if (!openssl) return;
    const run = (...args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=epoch-test-ca");
    writeFileSync(file("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    writeFileSync(file("client.ext"), "extendedKeyUsage=clientAuth\n");
    for (const who of ["server", "client"]) {
      run(
        "req",
        ...ec,
        "-keyout",
        `${who}.key`,
        "-out",
        `${who}.csr`,
        "-subj",
        `/CN=${who === "server" ? "localhost" : "epoch-client"}`,
      );
      run(
        "x509",
        "-req",
        "-in",
        `${who}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        `${who}.pem`,
        "-extfile",
        `${who}.ext`,
      );
    }
    testDb = await createTestDatabase("sqlite");
  });
  afterAll(async () => {
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ssl = (withClientCert: boolean): ChannelCredentials =>
    withClientCert
      ? credentials.createSsl(
          readFileSync(file("ca.pem")),
          readFileSync(file("client.key")),
          readFileSync(file("client.pem")),
        )
      : credentials.createSsl(readFileSync(file("ca.pem")));

  it.skipIf(!openssl)("serves over TLS", async () => {
    const env = { EPOCH_TLS_CERT: file("server.pem"), EPOCH_TLS_KEY: file("server.key") };
    const s = await startE2EServer({ databaseUrl: testDb.url, env, clientCredentials: ssl(false) });
    try {
      expect(await s.health.check("")).toBe("SERVING");
      const plaintext = new HealthClient(s.address, credentials.createInsecure());
      expect((await callError(plaintext.check(""))).code).toBe(status.UNAVAILABLE);
      plaintext.client.close();
    } finally {
      await s.stop();
    }
  });

  it.skipIf(!openssl)("requires a client certificate signed by EPOCH_TLS_CLIENT_CA (mTLS)", async () => {
    const env = {
      EPOCH_TLS_CERT: file("server.pem"),
      EPOCH_TLS_KEY: file("server.key"),
      EPOCH_TLS_CLIENT_CA: file("ca.pem"),
    };
    const s = await startE2EServer({ databaseUrl: testDb.url, env, clientCredentials: ssl(true) });
    try {
      expect(await s.health.check("")).toBe("SERVING");
      const anonymous = new HealthClient(s.address, ssl(false), { "grpc.ssl_target_name_override": "localhost" });
      expect((await callError(anonymous.check(""))).code).toBe(status.UNAVAILABLE);
      anonymous.client.close();
    } finally {
      await s.stop();
    }
  });

  it.skipIf(!openssl)("names the variable when a TLS file cannot be read", async () => {
    const env = { EPOCH_TLS_CERT: file("missing.pem"), EPOCH_TLS_KEY: file("server.key") };
    await expect(startE2EServer({ databaseUrl: testDb.url, env })).rejects.toThrow(
      /^EPOCH_TLS_CERT: cannot read .*ENOENT/,
    );
  });
});

describe("epoch-meta serve (process)", () => {
  const dir = mkdtempSync(join(tmpdir(), "epoch-serve-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A clean environment: the developer's own EPOCH_* settings must not leak in. */
  function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EPOCH_")));
    return { ...env, EPOCH_LOG_LEVEL: "info", EPOCH_SYNC_INTERVAL: "0", ...extra };
  }

  function serve(extra: Record<string, string>, args: string[] = []) {
    // tsx by absolute URL: the child runs in a temp dir, where a bare "tsx" would not resolve.
    const tsx = pathToFileURL(join(REPO_ROOT, "node_modules/tsx/dist/loader.mjs")).href;
    const child = spawn(process.execPath, ["--import", tsx, join(REPO_ROOT, "src/main.ts"), "serve", ...args], {
      cwd: dir,
      env: childEnv(extra),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
      child.on("exit", (code, signal) => res({ code, signal })),
    );
    return { child, exited, stderr: () => stderr, stdout: () => stdout };
  }

  /** stderr lines that are not JSON log records: what a human reads when the process fails. */
  const plainLines = (stderr: string) =>
    stderr
      .split("\n")
      .filter((l) => l.trim() !== "")
      .filter((l) => !l.startsWith("{"));

  it("serves, then exits 0 on SIGTERM after a graceful shutdown, with no stack trace", async () => {
    const p = serve({ EPOCH_DATABASE_URL: `sqlite:${join(dir, "sigterm.db")}`, EPOCH_LISTEN: "127.0.0.1:0" });
    await expect.poll(() => p.stderr(), { timeout: 30_000, interval: 100 }).toMatch(/"msg":"serving"/);
    const port = Number(/"listen":"127\.0\.0\.1:(\d+)","tls"/.exec(p.stderr())?.[1]);
    const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
    expect(await health.check("")).toBe("SERVING");
    health.client.close();
    p.child.kill("SIGTERM");
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toMatch(/"msg":"stopped"/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    expect(plainLines(p.stderr())).toEqual([]);
  });

  it("creates ./data for the default SQLite database", async () => {
    const p = serve({ EPOCH_LISTEN: "127.0.0.1:0" });
    await expect.poll(() => p.stderr(), { timeout: 30_000, interval: 100 }).toMatch(/"msg":"serving"/);
    p.child.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
    expect(existsSync(join(dir, "data", "epoch.db"))).toBe(true);
  });

  let occupied: NetServer;
  beforeAll(async () => {
    occupied = createServer();
    await new Promise<void>((res) => occupied.listen(0, "127.0.0.1", res));
  });
  afterAll(() => occupied.close());

  it.each([
    [
      "an occupied port",
      () => ({ EPOCH_LISTEN: `127.0.0.1:${(occupied.address() as { port: number }).port}` }),
      /address already in use/,
    ],
    [
      "an unreachable database",
      () => ({ EPOCH_DATABASE_URL: "mysql://root@127.0.0.1:1/epoch" }),
      /database .*unreachable/,
    ],
    [
      "bad configuration",
      () => ({ EPOCH_SYNC_INTERVAL: "soon" }),
      /^epoch-meta: EPOCH_SYNC_INTERVAL must be a duration/,
    ],
  ])("fails on %s with one clear line and exit code 1", async (_name, env, expected) => {
    const p = serve({ EPOCH_DATABASE_URL: `sqlite:${join(dir, "fail.db")}`, EPOCH_LISTEN: "127.0.0.1:0", ...env() });
    const { code } = await p.exited;
    expect(code).toBe(1);
    const lines = plainLines(p.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^epoch-meta: /);
    expect(lines[0]).toMatch(expected);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });
});
