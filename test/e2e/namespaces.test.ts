/**
 * Namespaces end to end (DESIGN §8.1): the real server (createApp) with authentication on, the
 * generated clients, SQLite and MariaDB, and three registry roots — `default` at
 * EPOCH_STORAGE_URL (the demo registry), `blue` under it at `namespaces/blue/` (its own small
 * registry) and `green` at a storage_url of its own. Every MetadataService and TokenService RPC
 * acts in the namespace of the `epoch-namespace` header: lists, gets, writes, sync, stats,
 * tokens and page tokens never cross; a token works only in its namespace, a system admin in
 * all of them and alone on NamespaceService; deletion refuses `default` and non-empty namespaces.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, status } from "@grpc/grpc-js";
import type { ListRepositoriesResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import { NamespaceServiceClient, type Namespace } from "epoch-meta-client/epoch/v1/namespace_service";
import { SyncState } from "epoch-meta-client/epoch/v1/sync";
import { TokenInvalidReason } from "epoch-meta-client/epoch/v1/token_service";
import { credentials } from "@grpc/grpc-js";
import { ErrorReason } from "epoch-meta-client/epoch/v1/errors";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { writeDemoRegistry } from "../../src/demo/demo-registry.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { image } from "../helpers/images.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

forEachDialect("namespaces through the server", (dialect) => {
  let dir: string;
  let testDb: TestDatabase;
  let s: E2EServer;
  let namespaces: NamespaceServiceClient;
  /** A system admin: an admin token of `default`. */
  let root: string;
  let blueAdmin: string;
  let blueService: string;

  const md = callMetadata;
  const repositoryNames = async (secret: string, namespace?: string) =>
    (
      await call<ListRepositoriesResponse>((cb) =>
        s.metadata.listRepositories({ pageSize: 0, pageToken: "", filter: [], orderBy: "" }, md(secret, namespace), cb),
      )
    ).repositories.map((r) => r.name);
  const sync = async (secret: string, namespace?: string) => {
    const events = await collect(
      s.metadata.syncFromCatalog({ full: false, dryRun: false, allowMassRemoval: false }, md(secret, namespace)),
    );
    const last = events.at(-1)?.event;
    return last?.$case === "finished" ? last.finished : undefined;
  };
  const createNamespace = (name: string, storageUrl = "", secret = root) =>
    call<{ namespace?: Namespace }>((cb) =>
      namespaces.createNamespace({ name, storageUrl, labels: {} }, md(secret), cb),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-ns-"));
    await writeDemoRegistry(new DirectoryObjectStore(join(dir, "root")));
    const blue = new RegistryLayout(new DirectoryObjectStore(join(dir, "root", "namespaces", "blue")));
    await blue.pushManifest("blue/app", "v1", image(1));
    await blue.pushManifest("blue/app", "v2", image(2));
    await blue.pushManifest("blue/tool", "1.0", image(3));
    testDb = await createTestDatabase(dialect);
    s = await startE2EServer({
      databaseUrl: testDb.url,
      storageUrl: `file:${join(dir, "root")}`,
      env: { EPOCH_AUTH: "required" },
    });
    namespaces = new NamespaceServiceClient(s.address, credentials.createInsecure());
    const db = await openDatabase(testDb.url);
    try {
      root = (await createToken(new TokenStore(db), { name: "root", scopes: ["admin"] })).secret;
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    namespaces?.close();
    await s?.stop();
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates, gets and lists namespaces; refuses duplicates, bad names and unknown ones", async () => {
    const blue = (await createNamespace("blue")).namespace!;
    expect(blue).toMatchObject({ name: "blue", storageUrl: `file:${join(dir, "root", "namespaces", "blue")}` });
    expect(blue.createTime).toBeInstanceOf(Date);
    const green = (await createNamespace("green", `file:${join(dir, "green")}`)).namespace!;
    expect(green.storageUrl).toBe(`file:${join(dir, "green")}`);

    const duplicate = await callError(createNamespace("blue"));
    expect([duplicate.code, duplicate.reason]).toEqual([status.ALREADY_EXISTS, "ERROR_REASON_NAMESPACE_EXISTS"]);
    for (const bad of ["Blue", "a..b", "-a", "x".repeat(77), ""]) {
      const e = await callError(createNamespace(bad));
      expect([bad, e.code, e.reason]).toEqual([bad, status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_NAME"]);
    }
    const badUrl = await callError(createNamespace("purple", "ftp://x"));
    expect(badUrl.code).toBe(status.INVALID_ARGUMENT);

    const got = await call<{ namespace?: Namespace }>((cb) =>
      namespaces.getNamespace({ name: "default" }, md(root), cb),
    );
    expect(got.namespace).toMatchObject({ name: "default", storageUrl: `file:${join(dir, "root")}` });
    const unknown = await callError(call((cb) => namespaces.getNamespace({ name: "nope" }, md(root), cb)));
    expect([unknown.code, unknown.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_NAMESPACE_NOT_FOUND"]);

    // Paged one at a time, in name order; a filter on the name.
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await call<{ namespaces: Namespace[]; nextPageToken: string }>((cb) =>
        namespaces.listNamespaces({ pageSize: 1, pageToken, filter: [] }, md(root), cb),
      );
      seen.push(...page.namespaces.map((n) => n.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(["blue", "default", "green"]);
    const filtered = await call<{ namespaces: Namespace[] }>((cb) =>
      namespaces.listNamespaces({ pageSize: 0, pageToken: "", filter: ["name~=^(blue|green)$"] }, md(root), cb),
    );
    expect(filtered.namespaces.map((n) => n.name)).toEqual(["blue", "green"]);
  });

  it("syncs each namespace from its own root and keeps every read to it", async () => {
    const syncedDefault = await sync(root);
    const syncedBlue = await sync(root, "blue");
    expect(syncedBlue).toMatchObject({ state: SyncState.SYNC_STATE_SUCCEEDED, counts: { tagsAdded: 3 } });
    expect(syncedDefault?.runId).not.toBe(syncedBlue?.runId);
    // green's own storage_url does not exist yet: a misconfiguration, said as such...
    expect(await sync(root, "green")).toMatchObject({
      state: SyncState.SYNC_STATE_FAILED,
      errorReason: ErrorReason.ERROR_REASON_STORAGE_UNAVAILABLE,
    });
    // ...and once it exists, an empty registry.
    mkdirSync(join(dir, "green"));
    expect(await sync(root, "green")).toMatchObject({
      state: SyncState.SYNC_STATE_SUCCEEDED,
      counts: { tagsAdded: 0 },
    });

    const inDefault = await repositoryNames(root);
    expect(inDefault).toContain("library/alpine");
    expect(inDefault.some((n) => n.startsWith("blue/"))).toBe(false);
    expect(await repositoryNames(root, "blue")).toEqual(["blue/app", "blue/tool"]);
    expect(await repositoryNames(root, "green")).toEqual([]);

    // Gets: a repository, tag or blob of one namespace is NOT_FOUND in another.
    const alpine = await callError(
      call((cb) => s.metadata.getRepository({ name: "library/alpine" }, md(root, "blue"), cb)),
    );
    expect(alpine.reason).toBe("ERROR_REASON_REPOSITORY_NOT_FOUND");
    const tag = await call<{ tag?: { digest: string } }>((cb) =>
      s.metadata.getTag({ repository: "blue/app", tag: "v1" }, md(root, "blue"), cb),
    );
    const inOther = await callError(
      call((cb) => s.metadata.getTag({ repository: "blue/app", tag: "v1" }, md(root), cb)),
    );
    expect(inOther.reason).toBe("ERROR_REASON_REPOSITORY_NOT_FOUND");
    const tags = await call<{ tags: unknown[] }>((cb) =>
      s.metadata.listTags(
        { repository: "blue/app", pageSize: 0, pageToken: "", filter: [], orderBy: "" },
        md(root, "blue"),
        cb,
      ),
    );
    expect(tags.tags).toHaveLength(2);
    const blueBlobs = await call<{ blobs: Array<{ digest: string }> }>((cb) =>
      s.metadata.listBlobs({ pageSize: 1000, pageToken: "", filter: [] }, md(root, "blue"), cb),
    );
    expect(blueBlobs.blobs).toHaveLength(6);
    const blobElsewhere = await callError(
      call((cb) => s.metadata.getBlob({ digest: blueBlobs.blobs[0]!.digest }, md(root), cb)),
    );
    expect(blobElsewhere.reason).toBe("ERROR_REASON_BLOB_NOT_FOUND");
    expect(tag.tag?.digest).toMatch(/^sha256:/);

    // Stats and sync status are the namespace's own.
    const stats = (ns?: string) =>
      call<{ repositoryCount: number; tagCount: number }>((cb) => s.metadata.getStats({}, md(root, ns), cb));
    expect(await stats("blue")).toMatchObject({ repositoryCount: 2, tagCount: 3 });
    expect((await stats()).repositoryCount).toBe(inDefault.length);
    expect(await stats("green")).toMatchObject({ repositoryCount: 0, tagCount: 0 });
    const status = (ns?: string) =>
      call<{ last?: { runId: number } }>((cb) => s.metadata.getSyncStatus({}, md(root, ns), cb));
    expect((await status("blue")).last?.runId).toBe(syncedBlue?.runId);
    expect((await status()).last?.runId).toBe(syncedDefault?.runId);
  });

  it("writes (IndexTag, DeleteTag) only to the namespace's root and index", async () => {
    const green = new RegistryLayout(new DirectoryObjectStore(join(dir, "green")));
    await green.pushManifest("green/web", "1", image(9));
    const indexed = await call<{ tag?: { repository: string } }>((cb) =>
      s.metadata.indexTag({ repository: "green/web", tag: "1" }, md(root, "green"), cb),
    );
    expect(indexed.tag?.repository).toBe("green/web");
    expect(await repositoryNames(root, "green")).toEqual(["green/web"]);
    // The same IndexTag in default reads default's root, where the manifest does not exist.
    const elsewhere = await callError(
      call((cb) => s.metadata.indexTag({ repository: "green/web", tag: "1" }, md(root), cb)),
    );
    expect(elsewhere.code).toBe(status.NOT_FOUND);

    await call((cb) => s.metadata.deleteTag({ repository: "blue/tool", tag: "1.0" }, md(root, "blue"), cb));
    expect(await repositoryNames(root, "blue")).toEqual(["blue/app"]);
    const blueCatalog = await new RegistryLayout(
      new DirectoryObjectStore(join(dir, "root", "namespaces", "blue")),
    ).readCatalog();
    expect(blueCatalog.status === "ok" && [...blueCatalog.catalog.document.repositories.keys()]).toEqual(["blue/app"]);
    const defaultCatalog = await new RegistryLayout(new DirectoryObjectStore(join(dir, "root"))).readCatalog();
    expect(defaultCatalog.status === "ok" && defaultCatalog.catalog.document.repositories.has("library/alpine")).toBe(
      true,
    );
  });

  it("refuses an unknown or malformed epoch-namespace before any work", async () => {
    const unknown = await callError(call((cb) => s.metadata.getStats({}, md(root, "nope"), cb)));
    expect([unknown.code, unknown.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_NAMESPACE_NOT_FOUND"]);
    const bad = await callError(call((cb) => s.metadata.getStats({}, md(root, "Not_OK!"), cb)));
    expect([bad.code, bad.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_NAME"]);
    // Also for calls without credentials: the namespace is checked first, the token after.
    const anonymous = new Metadata();
    anonymous.set("epoch-namespace", "nope");
    const noCredential = await callError(call((cb) => s.metadata.getStats({}, anonymous, cb)));
    expect(noCredential.code).toBe(status.NOT_FOUND);
  });

  it("binds page tokens to their namespace", async () => {
    const first = await call<ListRepositoriesResponse>((cb) =>
      s.metadata.listRepositories({ pageSize: 1, pageToken: "", filter: [], orderBy: "" }, md(root), cb),
    );
    expect(first.nextPageToken).not.toBe("");
    const reused = await callError(
      call((cb) =>
        s.metadata.listRepositories(
          { pageSize: 1, pageToken: first.nextPageToken, filter: [], orderBy: "" },
          md(root, "blue"),
          cb,
        ),
      ),
    );
    expect([reused.code, reused.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_PAGE_TOKEN"]);
  });

  it("keeps tokens in their namespace: cross-namespace refusal, ValidateToken without a leak, ListTokens", async () => {
    const create = (name: string, scopes: string[], ns: string) =>
      call<{ secret: string; token?: { id: number } }>((cb) =>
        s.tokens.createToken({ name, createdBy: "", scopes, repositories: [], ttl: undefined }, md(root, ns), cb),
      );
    blueService = (await create("blue-service", ["service"], "blue")).secret;
    blueAdmin = (await create("blue-admin", ["admin"], "blue")).secret;

    expect(await repositoryNames(blueService, "blue")).toEqual(["blue/app"]);
    for (const ns of [undefined, "green"]) {
      const refused = await callError(repositoryNames(blueService, ns));
      expect([ns, refused.code]).toEqual([ns, status.UNAUTHENTICATED]);
      const adminRefused = await callError(repositoryNames(blueAdmin, ns));
      expect([ns, adminRefused.code]).toEqual([ns, status.UNAUTHENTICATED]);
    }
    // An admin of blue is no system admin.
    const denied = await callError(createNamespace("yellow", "", blueAdmin));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    const deniedList = await callError(
      call((cb) => namespaces.listNamespaces({ pageSize: 0, pageToken: "", filter: [] }, md(blueAdmin), cb)),
    );
    expect(deniedList.code).toBe(status.PERMISSION_DENIED);

    // ValidateToken answers for the request's namespace: another namespace's secret is unknown.
    const validate = (ns?: string) =>
      call<{ valid: boolean; reason: number; token?: unknown }>((cb) =>
        s.tokens.validateToken({ secret: blueService, repository: "", action: "" }, md(root, ns), cb),
      );
    expect(await validate("blue")).toMatchObject({ valid: true });
    for (const ns of [undefined, "green"]) {
      const answer = await validate(ns);
      expect(answer).toMatchObject({ valid: false, reason: TokenInvalidReason.TOKEN_INVALID_REASON_UNKNOWN_TOKEN });
      expect(answer.token).toBeUndefined();
    }
    // A blue admin validates in blue.
    const byBlue = await call<{ valid: boolean }>((cb) =>
      s.tokens.validateToken({ secret: blueService, repository: "", action: "" }, md(blueAdmin, "blue"), cb),
    );
    expect(byBlue.valid).toBe(true);

    const list = async (secret: string, ns?: string, pageSize = 0, pageToken = "") =>
      call<{ tokens: Array<{ name: string }>; nextPageToken: string }>((cb) =>
        s.tokens.listTokens({ pageSize, pageToken }, md(secret, ns), cb),
      );
    expect((await list(blueAdmin, "blue")).tokens.map((t) => t.name)).toEqual(["blue-service", "blue-admin"]);
    expect((await list(root)).tokens.map((t) => t.name)).toEqual(["root"]);
    const blueFirst = await list(blueAdmin, "blue", 1);
    const crossed = await callError(list(root, undefined, 1, blueFirst.nextPageToken));
    expect(crossed.reason).toBe("ERROR_REASON_INVALID_PAGE_TOKEN");
    // Deleting default's token id from blue does not reach it.
    const rootId = (
      await call<{ tokens: Array<{ id: number }> }>((cb) =>
        s.tokens.listTokens({ pageSize: 0, pageToken: "" }, md(root), cb),
      )
    ).tokens[0]!.id;
    const notHere = await callError(call((cb) => s.tokens.deleteToken({ id: rootId }, md(blueAdmin, "blue"), cb)));
    expect(notHere.reason).toBe("ERROR_REASON_TOKEN_NOT_FOUND");
    expect(await repositoryNames(root)).toContain("library/alpine");
  });

  it("deletes only empty namespaces, never default; a deleted one stops resolving", async () => {
    const def = await callError(call((cb) => namespaces.deleteNamespace({ name: "default" }, md(root), cb)));
    expect(def.code).toBe(status.FAILED_PRECONDITION);
    const blue = await callError(call((cb) => namespaces.deleteNamespace({ name: "blue" }, md(root), cb)));
    expect([blue.code, blue.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_NAMESPACE_NOT_EMPTY"]);

    await createNamespace("red");
    // A synced (empty) namespace has a run and stats rows; they go with it.
    expect(await sync(root, "red")).toMatchObject({ state: SyncState.SYNC_STATE_SUCCEEDED });
    const tokenOfRed = await call<{ token?: { id: number } }>((cb) =>
      s.tokens.createToken(
        { name: "t", createdBy: "", scopes: [], repositories: [], ttl: undefined },
        md(root, "red"),
        cb,
      ),
    );
    const withToken = await callError(call((cb) => namespaces.deleteNamespace({ name: "red" }, md(root), cb)));
    expect(withToken.reason).toBe("ERROR_REASON_NAMESPACE_NOT_EMPTY");
    await call((cb) => s.tokens.deleteToken({ id: tokenOfRed.token!.id }, md(root, "red"), cb));
    await call((cb) => namespaces.deleteNamespace({ name: "red" }, md(root), cb));

    const gone = await callError(call((cb) => s.metadata.getStats({}, md(root, "red"), cb)));
    expect([gone.code, gone.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_NAMESPACE_NOT_FOUND"]);
    const again = await callError(call((cb) => namespaces.deleteNamespace({ name: "red" }, md(root), cb)));
    expect(again.reason).toBe("ERROR_REASON_NAMESPACE_NOT_FOUND");
    // The name can be taken again: a new, empty namespace.
    await createNamespace("red");
    expect(await call((cb) => s.metadata.getStats({}, md(root, "red"), cb))).toMatchObject({ repositoryCount: 0 });
  });
});
