/**
 * Labels end to end: the real server (createApp), the generated client and the CLI, on SQLite
 * and MariaDB. UpdateTag/UpdateRepository with a FieldMask (replace all, set one, delete one),
 * INVALID_LABEL with its reason trailer, labels in Get/List answers, label filters over the wire
 * with page tokens, and `epoch-meta tags|repos label` / `get`.
 */
import { status } from "@grpc/grpc-js";
import type {
  GetTagResponse,
  ListRepositoriesResponse,
  ListTagsResponse,
  UpdateRepositoryResponse,
  UpdateTagResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import { afterAll, beforeAll, expect, it } from "vitest";
import { requiredAccess } from "../../src/grpc/auth.js";
import { configureLogger } from "../../src/logger.js";
import { cli } from "../helpers/cli.js";
import { createMigratedDatabase, forEachDialect } from "../helpers/database.js";
import { call, callError, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { IndexSeeder } from "../helpers/seed-index.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

forEachDialect("labels (e2e)", (dialect) => {
  let server: E2EServer;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const created = await createMigratedDatabase(dialect);
    cleanup = created.cleanup;
    const seed = await new IndexSeeder(created.db).init();
    await seed.tags(
      "library/app",
      ["a", "b", "c", "d", "e"].map((name) => ({ name })),
    );
    await seed.tags("team/os", [{ name: "v1" }]);
    await created.db.close();
    server = await startE2EServer({ databaseUrl: created.test.url });
  });
  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  const updateTag = (tag: string, labels: Record<string, string>, paths?: string[]) =>
    call<UpdateTagResponse>((cb) =>
      server.metadata.updateTag({ repository: "library/app", tag, labels, updateMask: paths }, cb),
    );

  it("UpdateTag: replace all, set one, delete one; GetTag shows the result", async () => {
    expect((await updateTag("a", { env: "prod", team: "x" })).tag?.labels).toEqual({ env: "prod", team: "x" });
    expect((await updateTag("a", { tier: "1" }, ["labels"])).tag?.labels).toEqual({ tier: "1" });
    expect((await updateTag("a", { env: "dev" }, ["labels.env"])).tag?.labels).toEqual({ env: "dev", tier: "1" });
    expect((await updateTag("a", {}, ["labels.tier"])).tag).toMatchObject({ name: "a", labels: { env: "dev" } });
    const got = await call<GetTagResponse>((cb) => server.metadata.getTag({ repository: "library/app", tag: "a" }, cb));
    expect(got.tag?.labels).toEqual({ env: "dev" });
    expect(requiredAccess("/epoch.v1.MetadataService/UpdateTag")).toBe("service");
    expect(requiredAccess("/epoch.v1.MetadataService/UpdateRepository")).toBe("service");
  });

  it("refuses a bad label with INVALID_ARGUMENT and ERROR_REASON_INVALID_LABEL; unknown objects are NOT_FOUND", async () => {
    for (const [labels, paths] of [
      [{ "bad key": "x" }, undefined],
      [{ k: "v".repeat(4096) }, undefined],
      [{}, ["name"]],
    ] as Array<[Record<string, string>, string[] | undefined]>) {
      const err = await callError(updateTag("b", labels, paths));
      expect([err.code, err.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_LABEL"]);
    }
    const missing = await callError(updateTag("zzz", { a: "b" }));
    expect([missing.code, missing.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_TAG_NOT_FOUND"]);
  });

  it("ListTags filters by labels across pages; ListRepositories too", async () => {
    for (const tag of ["b", "d", "e"]) await updateTag(tag, { env: "prod" });
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await call<ListTagsResponse>((cb) =>
        server.metadata.listTags(
          { repository: "library/app", pageSize: 1, pageToken, filter: ['labels."env"==prod'], orderBy: "" },
          cb,
        ),
      );
      names.push(...page.tags.map((t) => `${t.name}:${t.labels.env}`));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(names).toEqual(["b:prod", "d:prod", "e:prod"]);
    const notProd = await call<ListTagsResponse>((cb) =>
      server.metadata.listTags(
        { repository: "library/app", pageSize: 0, pageToken: "", filter: ['labels."env"!=prod'], orderBy: "" },
        cb,
      ),
    );
    expect(notProd.tags.map((t) => t.name)).toEqual(["a", "c"]);

    const repo = await call<UpdateRepositoryResponse>((cb) =>
      server.metadata.updateRepository({ name: "team/os", labels: { owner: "os-team" }, updateMask: undefined }, cb),
    );
    expect(repo.repository).toMatchObject({ name: "team/os", tagCount: 0, labels: { owner: "os-team" } });
    const repos = await call<ListRepositoriesResponse>((cb) =>
      server.metadata.listRepositories(
        { pageSize: 0, pageToken: "", filter: ['labels."owner"~="^os-"'], orderBy: "" },
        cb,
      ),
    );
    expect(repos.repositories.map((r) => [r.name, r.labels])).toEqual([["team/os", { owner: "os-team" }]]);
  });

  // Each CLI run is a fresh node + tsx process: slow on a loaded machine, hence the timeout.
  it("the CLI sets, deletes and shows labels", { timeout: 240_000 }, async () => {
    await updateTag("c", { old: "x" });
    const set = await cli(["tags", "label", "library/app", "c", "env=staging", "team=ops", "old-"], server.address);
    expect(set.stderr).toBe("");
    expect(set.stdout).toBe("library/app:c labels: env=staging, team=ops\n");
    const got = await cli(["tags", "get", "library/app", "c"], server.address);
    expect(got.stdout).toMatch(/^labels\s+env=staging, team=ops$/m);
    const repo = await cli(["repos", "label", "library/app", "owner=me"], server.address);
    expect(repo.stdout).toBe("library/app labels: owner=me\n");
  });
});
