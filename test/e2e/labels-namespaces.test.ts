/**
 * Labels are per namespace (DESIGN §8.1, §8.2), through the real server with authentication on,
 * on SQLite and MariaDB: `default` and `blue` index the same repository and tag names from two
 * registry roots; labels set in one namespace are invisible to the other's gets, lists and
 * label filters, a label-filtered page token does not cross, a namespace's token cannot label
 * another namespace's objects, and each namespace's syncs keep its own labels. Namespace labels:
 * CreateNamespace and UpdateNamespace (update_mask), Get/List answers, ListNamespaces label
 * filters across pages, system admins only, and `epoch-meta namespaces create --label` / `label`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import type {
  GetTagResponse,
  ListRepositoriesResponse,
  ListTagsResponse,
  UpdateTagResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import {
  NamespaceServiceClient,
  type ListNamespacesResponse,
  type Namespace,
} from "epoch-meta-client/epoch/v1/namespace_service";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { runCli } from "../helpers/cli.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { image } from "../helpers/images.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

forEachDialect("labels in namespaces", (dialect) => {
  let dir: string;
  let testDb: TestDatabase;
  let s: E2EServer;
  let namespaces: NamespaceServiceClient;
  /** A system admin (an admin token of `default`). */
  let root: string;

  const md = callMetadata;
  const sync = (namespace: string | undefined, full = false) =>
    collect(s.metadata.syncFromCatalog({ full, dryRun: false, allowMassRemoval: false }, md(root, namespace)));
  const updateTag = (namespace: string | undefined, tag: string, labels: Record<string, string>, secret = root) =>
    call<UpdateTagResponse>((cb) =>
      s.metadata.updateTag({ repository: "app", tag, labels, updateMask: undefined }, md(secret, namespace), cb),
    );
  const tagLabels = async (namespace: string | undefined, tag: string) =>
    (await call<GetTagResponse>((cb) => s.metadata.getTag({ repository: "app", tag }, md(root, namespace), cb))).tag
      ?.labels;
  const listTags = (namespace: string | undefined, filter: string[], pageSize = 0, pageToken = "") =>
    call<ListTagsResponse>((cb) =>
      s.metadata.listTags({ repository: "app", pageSize, pageToken, filter, orderBy: "" }, md(root, namespace), cb),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-ns-labels-"));
    const roots = [join(dir, "root"), join(dir, "root", "namespaces", "blue")];
    for (const [n, path] of roots.entries()) {
      const layout = new RegistryLayout(new DirectoryObjectStore(path));
      for (const tag of ["v1", "v2", "v3"]) await layout.pushManifest("app", tag, image(10 * n + Number(tag[1])));
    }
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
    await call((cb) => namespaces.createNamespace({ name: "blue", storageUrl: "", labels: {} }, md(root), cb));
    await sync(undefined);
    await sync("blue");
  });
  afterAll(async () => {
    namespaces?.close();
    await s?.stop();
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps tag and repository labels to their namespace: gets, lists and filters", async () => {
    await updateTag(undefined, "v1", { env: "prod", ns: "default" });
    await updateTag("blue", "v1", { env: "dev", ns: "blue" });
    await updateTag("blue", "v2", { env: "prod", ns: "blue" });
    expect(await tagLabels(undefined, "v1")).toEqual({ env: "prod", ns: "default" });
    expect(await tagLabels("blue", "v1")).toEqual({ env: "dev", ns: "blue" });
    expect(await tagLabels(undefined, "v2")).toEqual({});

    const names = async (ns: string | undefined, filter: string[]) =>
      (await listTags(ns, filter)).tags.map((t) => t.name);
    expect(await names(undefined, ['labels."env"==prod'])).toEqual(["v1"]);
    expect(await names("blue", ['labels."env"==prod'])).toEqual(["v2"]);
    expect(await names(undefined, ['labels."ns"==blue'])).toEqual([]);
    expect(await names("blue", ['labels."ns"!=blue'])).toEqual(["v3"]);

    await call((cb) =>
      s.metadata.updateRepository(
        { name: "app", labels: { owner: "blue-team" }, updateMask: undefined },
        md(root, "blue"),
        cb,
      ),
    );
    const repos = async (ns: string | undefined) =>
      (
        await call<ListRepositoriesResponse>((cb) =>
          s.metadata.listRepositories(
            { pageSize: 0, pageToken: "", filter: ["labels.owner"], orderBy: "" },
            md(root, ns),
            cb,
          ),
        )
      ).repositories.map((r) => [r.name, r.labels]);
    expect(await repos("blue")).toEqual([["app", { owner: "blue-team" }]]);
    expect(await repos(undefined)).toEqual([]);
  });

  it("binds a label-filtered page token to its namespace", async () => {
    await updateTag("blue", "v3", { env: "prod" });
    const first = await listTags("blue", ['labels."env"==prod'], 1);
    expect(first.tags.map((t) => t.name)).toEqual(["v2"]);
    const crossed = await callError(listTags(undefined, ['labels."env"==prod'], 1, first.nextPageToken));
    expect([crossed.code, crossed.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_PAGE_TOKEN"]);
    expect((await listTags("blue", ['labels."env"==prod'], 1, first.nextPageToken)).tags.map((t) => t.name)).toEqual([
      "v3",
    ]);
  });

  it("refuses a namespace's token on another namespace's labels", async () => {
    const blueService = (
      await call<{ secret: string }>((cb) =>
        s.tokens.createToken(
          { name: "blue-service", createdBy: "", scopes: ["service"], repositories: [], ttl: undefined },
          md(root, "blue"),
          cb,
        ),
      )
    ).secret;
    expect((await updateTag("blue", "v1", { by: "blue" }, blueService)).tag?.labels).toEqual({ by: "blue" });
    const refused = await callError(updateTag(undefined, "v1", { by: "blue" }, blueService));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(await tagLabels(undefined, "v1")).toEqual({ env: "prod", ns: "default" });
  });

  it("each namespace's syncs (incremental, full) and a retag keep its own labels", async () => {
    const before = { default: await tagLabels(undefined, "v1"), blue: await tagLabels("blue", "v1") };
    const digest = async () =>
      (await call<GetTagResponse>((cb) => s.metadata.getTag({ repository: "app", tag: "v1" }, md(root, "blue"), cb)))
        .tag?.digest;
    const oldDigest = await digest();
    // A retag in blue: v1 now points at another manifest.
    await new RegistryLayout(new DirectoryObjectStore(join(dir, "root", "namespaces", "blue"))).pushManifest(
      "app",
      "v1",
      image(99),
    );
    await sync("blue");
    await sync("blue", true);
    await sync(undefined, true);
    expect(await digest()).not.toBe(oldDigest);
    expect(await tagLabels(undefined, "v1")).toEqual(before.default);
    expect(await tagLabels("blue", "v1")).toEqual(before.blue);
  });

  const updateNamespace = (name: string, labels: Record<string, string>, paths?: string[], secret = root) =>
    call<{ namespace?: Namespace }>((cb) =>
      namespaces.updateNamespace({ name, labels, updateMask: paths }, md(secret), cb),
    );
  const listNamespaces = async (filter: string[], pageSize: number) => {
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await call<ListNamespacesResponse>((cb) =>
        namespaces.listNamespaces({ pageSize, pageToken, filter }, md(root), cb),
      );
      names.push(...page.namespaces.map((n) => n.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return names;
  };

  it("namespace labels: create, update with a mask, get, and filter ListNamespaces across pages", async () => {
    const created = await call<{ namespace?: Namespace }>((cb) =>
      namespaces.createNamespace({ name: "gold", storageUrl: "", labels: { tier: "gold", team: "a" } }, md(root), cb),
    );
    expect(created.namespace?.labels).toEqual({ team: "a", tier: "gold" });
    expect((await updateNamespace("blue", { tier: "gold", env: "x" })).namespace?.labels).toEqual({
      env: "x",
      tier: "gold",
    });
    expect((await updateNamespace("blue", {}, ["labels.env"])).namespace?.labels).toEqual({ tier: "gold" });
    expect((await updateNamespace("default", { tier: "silver" }, ["labels.tier"])).namespace?.labels).toEqual({
      tier: "silver",
    });
    const got = await call<{ namespace?: Namespace }>((cb) => namespaces.getNamespace({ name: "gold" }, md(root), cb));
    expect(got.namespace?.labels).toEqual({ team: "a", tier: "gold" });

    expect(await listNamespaces(['labels."tier"==gold'], 1)).toEqual(["blue", "gold"]);
    expect(await listNamespaces(['labels."tier"!=gold'], 1)).toEqual(["default"]);
    expect(await listNamespaces(["labels.team"], 1)).toEqual(["gold"]);
    expect(await listNamespaces(['labels."tier"~="^s"', "name==blue"], 1)).toEqual(["blue", "default"]);

    const bad = await callError(updateNamespace("gold", { "bad key": "1" }));
    expect([bad.code, bad.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_LABEL"]);
    const unknown = await callError(updateNamespace("nope", {}));
    expect([unknown.code, unknown.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_NAMESPACE_NOT_FOUND"]);
    // Namespace admins are no system admins.
    const blueAdmin = (
      await call<{ secret: string }>((cb) =>
        s.tokens.createToken(
          { name: "blue-admin", createdBy: "", scopes: ["admin"], repositories: [], ttl: undefined },
          md(root, "blue"),
          cb,
        ),
      )
    ).secret;
    const denied = await callError(updateNamespace("blue", { a: "b" }, undefined, blueAdmin));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
  });

  // Each CLI run is a fresh node + tsx process: slow on a loaded machine, hence the timeout.
  it("the CLI creates a namespace with labels and sets and deletes them", { timeout: 240_000 }, async () => {
    const env = { EPOCH_SERVER: s.address, EPOCH_TOKEN: root, EPOCH_LOG_LEVEL: "silent" };
    const created = await runCli(["namespaces", "create", "cli-ns", "--label", "a=1", "--label", "b=2"], env);
    expect(created.stderr).toBe("");
    expect(created.stdout).toMatch(/^labels\s+a=1, b=2$/m);
    const labelled = await runCli(["namespaces", "label", "cli-ns", "c=3", "a-"], env);
    expect(labelled.stdout).toBe("namespace cli-ns labels: b=2, c=3\n");
  });
});
