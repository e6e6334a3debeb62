/**
 * The audit trail through a real server: every mutating call (token create/delete, cache
 * invalidation, IndexTag, DeleteTag, UpdateTag, UpdateRepository, SyncFromCatalog, CancelSync)
 * and every refused credential writes exactly one `"audit": true` line naming the method, the caller (token id/name or
 * "anonymous"), the peer, the target and the outcome with its reason; reads write none; no line
 * carries a secret or its hash. The log is captured in process (test/helpers/log-capture.ts).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { NamespaceServiceClient } from "epoch-meta-client/epoch/v1/namespace_service";
import type { CreateTokenResponse } from "epoch-meta-client/epoch/v1/token_service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { generateSecret } from "../../src/services/tokens/token-secret.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { writeRegistryFixture, type RegistryFixture } from "../fixtures/registry-fixture.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata as md, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { captureLogs, type LogCapture, type LogLine } from "../helpers/log-capture.js";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe("audit trail", () => {
  let testDb: TestDatabase;
  let registry: string;
  let fixture: RegistryFixture;
  let logs: LogCapture;
  let s: E2EServer;
  let admin: { id: number; secret: string };
  let service: { id: number; secret: string };
  const secrets: string[] = [];

  /** The audit lines written while `fn` ran. */
  const auditDuring = async (fn: () => Promise<unknown>): Promise<LogLine[]> => {
    const before = logs.lines().length;
    await fn();
    return logs
      .lines()
      .slice(before)
      .filter((l) => l.audit === true);
  };

  beforeAll(async () => {
    testDb = await createTestDatabase("sqlite");
    registry = mkdtempSync(join(tmpdir(), "epoch-audit-reg-"));
    fixture = await writeRegistryFixture(new DirectoryObjectStore(registry), { broken: false });
    logs = captureLogs();
    s = await startE2EServer({
      databaseUrl: testDb.url,
      storageUrl: `file:${registry}`,
      env: { EPOCH_AUTH: "required", EPOCH_LOG_LEVEL: "debug" },
    });
    const db = await openDatabase(testDb.url);
    try {
      const make = async (name: string, scopes: string[]) => {
        const made = await createToken(new TokenStore(db), { name, scopes });
        secrets.push(made.secret);
        return { id: made.token.id, secret: made.secret };
      };
      admin = await make("ops", ["admin"]);
      service = await make("front-end", ["service"]);
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    await s?.stop();
    logs?.restore();
    await testDb?.drop();
    if (registry) rmSync(registry, { recursive: true, force: true });
  });

  it("token create, delete and cache invalidation: one line each, with caller, peer, target and outcome", async () => {
    let created!: CreateTokenResponse;
    const createLines = await auditDuring(async () => {
      created = await call<CreateTokenResponse>((cb) =>
        s.tokens.createToken(
          { name: "registry", createdBy: "", scopes: ["pull"], repositories: ["library/*"], ttl: undefined },
          md(admin.secret),
          cb,
        ),
      );
    });
    secrets.push(created.secret);
    expect(createLines).toHaveLength(1);
    expect(createLines[0]).toMatchObject({
      level: "info",
      audit: true,
      method: "/epoch.v1.TokenService/CreateToken",
      caller: `token:${admin.id}/ops`,
      target: `token:${created.token!.id}/registry`,
      scopes: ["pull"],
      repositories: ["library/*"],
      outcome: "OK",
    });
    expect(createLines[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);

    const deleteLines = await auditDuring(() =>
      call((cb) => s.tokens.deleteToken({ id: created.token!.id }, md(admin.secret), cb)),
    );
    expect(deleteLines).toEqual([
      expect.objectContaining({ method: "/epoch.v1.TokenService/DeleteToken", target: `token:${created.token!.id}` }),
    ]);
    expect(deleteLines[0]).toMatchObject({ outcome: "OK", caller: `token:${admin.id}/ops` });

    const missing = await auditDuring(() =>
      callError(call((cb) => s.tokens.deleteToken({ id: 999_999 }, md(admin.secret), cb))),
    );
    expect(missing).toEqual([
      expect.objectContaining({ target: "token:999999", outcome: "NOT_FOUND", reason: "TOKEN_NOT_FOUND" }),
    ]);

    const invalidate = await auditDuring(() => call((cb) => s.tokens.invalidateTokenCache({}, md(admin.secret), cb)));
    expect(invalidate).toEqual([
      expect.objectContaining({
        method: "/epoch.v1.TokenService/InvalidateTokenCache",
        target: "token-cache",
        outcome: "OK",
      }),
    ]);
  });

  it("sync, cancel, IndexTag and DeleteTag: one line each naming what they acted on", async () => {
    let runId = 0;
    const syncLines = await auditDuring(async () => {
      const events = await collect(
        s.metadata.syncFromCatalog({ full: true, dryRun: false, allowMassRemoval: false }, md(admin.secret)),
      );
      const started = events[0]?.event;
      if (started?.$case !== "started") throw new Error("no started event");
      runId = started.started.runId;
    });
    expect(syncLines).toEqual([
      expect.objectContaining({
        method: "/epoch.v1.MetadataService/SyncFromCatalog",
        caller: `token:${admin.id}/ops`,
        target: `sync-run:${runId}`,
        full: true,
        dryRun: false,
        joined: false,
        outcome: "OK",
      }),
    ]);

    const cancelLines = await auditDuring(() =>
      callError(call((cb) => s.metadata.cancelSync({ runId }, md(admin.secret), cb))),
    );
    expect(cancelLines).toEqual([
      expect.objectContaining({
        method: "/epoch.v1.MetadataService/CancelSync",
        target: `sync-run:${runId}`,
        outcome: "FAILED_PRECONDITION",
        reason: "SYNC_FINISHED",
      }),
    ]);

    const tag = fixture.indexable[0]!;
    const indexLines = await auditDuring(() =>
      call((cb) => s.metadata.indexTag({ repository: tag.repository, tag: tag.tag }, md(service.secret), cb)),
    );
    expect(indexLines).toEqual([
      expect.objectContaining({
        method: "/epoch.v1.MetadataService/IndexTag",
        caller: `token:${service.id}/front-end`,
        target: `${tag.repository}:${tag.tag}`,
        outcome: "OK",
      }),
    ]);
    const deleteLines = await auditDuring(async () => {
      await call((cb) => s.metadata.deleteTag({ repository: tag.repository, tag: tag.tag }, md(service.secret), cb));
      await callError(
        call((cb) => s.metadata.deleteTag({ repository: tag.repository, tag: tag.tag }, md(service.secret), cb)),
      );
    });
    expect(deleteLines.map((l) => [l.method, l.target, l.outcome, l.reason])).toEqual([
      ["/epoch.v1.MetadataService/DeleteTag", `${tag.repository}:${tag.tag}`, "OK", undefined],
      ["/epoch.v1.MetadataService/DeleteTag", `${tag.repository}:${tag.tag}`, "NOT_FOUND", "TAG_NOT_FOUND"],
    ]);
  });

  it("label updates: one line each naming the object and the mask, never the values", async () => {
    const repos = await call<{ repositories: Array<{ name: string }> }>((cb) =>
      s.metadata.listRepositories({ pageSize: 1, pageToken: "", filter: [], orderBy: "" }, md(service.secret), cb),
    );
    const repository = repos.repositories[0]!.name;
    const tags = await call<{ tags: Array<{ name: string }> }>((cb) =>
      s.metadata.listTags({ repository, pageSize: 1, pageToken: "", filter: [], orderBy: "" }, md(service.secret), cb),
    );
    const tag = tags.tags[0]!.name;
    const lines = await auditDuring(async () => {
      await call((cb) =>
        s.metadata.updateTag(
          { repository, tag, labels: { env: "secret-value" }, updateMask: ["labels.env"] },
          md(service.secret),
          cb,
        ),
      );
      await call((cb) =>
        s.metadata.updateRepository(
          { name: repository, labels: { owner: "secret-value" }, updateMask: undefined },
          md(service.secret),
          cb,
        ),
      );
    });
    expect(lines).toEqual([
      expect.objectContaining({
        method: "/epoch.v1.MetadataService/UpdateTag",
        caller: `token:${service.id}/front-end`,
        target: `${repository}:${tag}`,
        updateMask: ["labels.env"],
        outcome: "OK",
      }),
      expect.objectContaining({
        method: "/epoch.v1.MetadataService/UpdateRepository",
        target: `repository:${repository}`,
        updateMask: [],
        outcome: "OK",
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain("secret-value");
  });

  it("reads and ValidateToken write no audit line", async () => {
    const lines = await auditDuring(async () => {
      await call((cb) => s.metadata.getStats({}, md(service.secret), cb));
      await call((cb) =>
        s.metadata.listRepositories({ pageSize: 0, pageToken: "", filter: [], orderBy: "" }, md(service.secret), cb),
      );
      await call((cb) =>
        s.tokens.validateToken({ secret: service.secret, repository: "", action: "" }, md(service.secret), cb),
      );
      await s.health.check("");
    });
    expect(lines).toEqual([]);
  });

  it("every refused credential writes one warning naming the caller it could identify", async () => {
    const junk = generateSecret();
    secrets.push(junk);
    const lines = await auditDuring(async () => {
      await callError(call((cb) => s.metadata.getStats({}, md(), cb)));
      await callError(call((cb) => s.metadata.getStats({}, md(junk), cb)));
      await callError(call((cb) => s.tokens.invalidateTokenCache({}, md(service.secret), cb)));
    });
    expect(lines.map((l) => [l.level, l.method, l.caller, l.outcome, l.reason])).toEqual([
      ["warn", "/epoch.v1.MetadataService/GetStats", "anonymous", "UNAUTHENTICATED", "UNAUTHENTICATED"],
      ["warn", "/epoch.v1.MetadataService/GetStats", "anonymous", "UNAUTHENTICATED", "UNAUTHENTICATED"],
      [
        "warn",
        "/epoch.v1.TokenService/InvalidateTokenCache",
        `token:${service.id}/front-end`,
        "PERMISSION_DENIED",
        "PERMISSION_DENIED",
      ],
    ]);
    for (const l of lines) expect(l.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("no log line carries a secret or its hash", () => {
    const text = logs.text();
    expect(text).toContain('"audit":true');
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    for (const secret of secrets) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256(secret));
    }
  });
});

describe("audit trail without authentication (loopback, EPOCH_AUTH=auto)", () => {
  let testDb: TestDatabase;
  let logs: LogCapture;
  let s: E2EServer;
  let registry: string;

  beforeAll(async () => {
    testDb = await createTestDatabase("sqlite");
    registry = mkdtempSync(join(tmpdir(), "epoch-audit-reg-"));
    logs = captureLogs();
    s = await startE2EServer({
      databaseUrl: testDb.url,
      storageUrl: `file:${registry}`,
      env: { EPOCH_LOG_LEVEL: "debug" },
    });
  });
  afterAll(async () => {
    await s?.stop();
    logs?.restore();
    await testDb?.drop();
    if (registry) rmSync(registry, { recursive: true, force: true });
  });

  it("names the caller anonymous", async () => {
    const err = await callError(call((cb) => s.metadata.deleteTag({ repository: "library/none", tag: "1" }, md(), cb)));
    expect(err.code).toBe(status.NOT_FOUND);
    const lines = logs.lines().filter((l) => l.audit === true);
    expect(lines).toEqual([
      expect.objectContaining({
        method: "/epoch.v1.MetadataService/DeleteTag",
        caller: "anonymous",
        target: "library/none:1",
        outcome: "NOT_FOUND",
        reason: "REPOSITORY_NOT_FOUND",
      }),
    ]);
  });

  it("namespace create and delete are audited with the namespace they acted on", async () => {
    const namespaces = new NamespaceServiceClient(s.address, credentials.createInsecure());
    try {
      const before = logs.lines().length;
      await call((cb) => namespaces.createNamespace({ name: "audited", storageUrl: "", labels: {} }, md(), cb));
      await call((cb) => namespaces.deleteNamespace({ name: "audited" }, md(), cb));
      const lines = logs
        .lines()
        .slice(before)
        .filter((l) => l.audit === true);
      expect(lines).toEqual([
        expect.objectContaining({
          method: "/epoch.v1.NamespaceService/CreateNamespace",
          target: "namespace:audited",
          namespace: "default",
          outcome: "OK",
        }),
        expect.objectContaining({ method: "/epoch.v1.NamespaceService/DeleteNamespace", target: "namespace:audited" }),
      ]);
    } finally {
      namespaces.close();
    }
  });
});
