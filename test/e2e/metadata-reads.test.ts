/**
 * The read RPCs end to end: the real server (createApp) and the generated client, over an index
 * seeded row by row, on SQLite and MariaDB. Checks what only the wire shows: enums, Timestamps,
 * int64 sizes, empty manifest_json in lists, and status codes with their reason trailer.
 */
import { status } from "@grpc/grpc-js";
import type {
  GetBlobResponse,
  GetRepositoryResponse,
  GetStatsResponse,
  GetTagResponse,
  ListBlobsResponse,
  ListRepositoriesResponse,
  ListTagsResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import { ArtifactKind } from "epoch-meta-client/epoch/v1/resources";
import { afterAll, beforeAll, expect, it } from "vitest";
import { configureLogger } from "../../src/logger.js";
import { cli } from "../helpers/cli.js";
import { createMigratedDatabase, forEachDialect } from "../helpers/database.js";
import { call, callError, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { fakeDigest, IndexSeeder } from "../helpers/seed-index.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const T0 = Date.UTC(2024, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const BIG = 2 ** 40 + 3; // an int64 above 2^32 must survive the wire as a number

forEachDialect("MetadataService reads (e2e)", (dialect) => {
  let server: E2EServer;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const created = await createMigratedDatabase(dialect);
    cleanup = created.cleanup;
    const seed = await new IndexSeeder(created.db).init();
    await seed.repository("library/app", {
      tagCount: 3,
      totalSize: BIG,
      kind: "IMAGE_INDEX",
      createdAt: at(0),
      updatedAt: at(30),
    });
    await seed.repository("team/os", {
      tagCount: 1,
      totalSize: 10,
      kind: "CLOUD_IMAGE",
      artifactType: "application/vnd.cocoonstack.os-image.v1+json",
      updatedAt: at(60),
    });
    await seed.tags("library/app", [
      { name: "latest", totalSize: 100, pushedAt: at(10), json: '{"lower":true}' },
      { name: "Latest", totalSize: 200, pushedAt: at(20), json: '{"upper":true}' },
      {
        name: "multi",
        kind: "IMAGE_INDEX",
        mediaType: "application/vnd.oci.image.index.v1+json",
        totalSize: BIG,
        layerCount: 2,
        pushedAt: at(30),
        incomplete: true,
        platformSizes: [
          { digest: fakeDigest("arm64"), size: 1500, layerCount: 3, os: "linux", architecture: "arm64", variant: "v8" },
          { digest: fakeDigest("amd64"), size: BIG, layerCount: 4, os: "linux", architecture: "amd64" },
        ],
      },
    ]);
    await seed.tags("team/os", [
      {
        name: "v1",
        kind: "CLOUD_IMAGE",
        artifactType: "application/vnd.cocoonstack.os-image.v1+json",
        pushedAt: at(60),
      },
    ]);
    await seed.blobs([
      {
        digest: fakeDigest("blob-a"),
        size: BIG,
        refCount: 2,
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      },
      { digest: fakeDigest("blob-b"), size: 5, refCount: 0 },
    ]);
    await seed.stats({
      repositoryCount: 2,
      tagCount: 4,
      blobCount: 1,
      totalSize: BIG,
      kinds: { CONTAINER_IMAGE: 2, IMAGE_INDEX: 1, CLOUD_IMAGE: 1 },
      lastSyncAt: at(99),
    });
    await created.db.close();
    server = await startE2EServer({ databaseUrl: created.test.url });
  });
  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it("ListRepositories pages with tokens in every order", async () => {
    const first = await call<ListRepositoriesResponse>((cb) =>
      server.metadata.listRepositories({ pageSize: 1, pageToken: "", filter: [], orderBy: "update_time desc" }, cb),
    );
    expect(first.repositories.map((r) => r.name)).toEqual(["team/os"]);
    expect(first.repositories[0]).toMatchObject({
      kind: ArtifactKind.ARTIFACT_KIND_CLOUD_IMAGE,
      artifactType: "application/vnd.cocoonstack.os-image.v1+json",
      updateTime: at(60),
    });
    const second = await call<ListRepositoriesResponse>((cb) =>
      server.metadata.listRepositories(
        { pageSize: 1, pageToken: first.nextPageToken, filter: [], orderBy: "update_time desc" },
        cb,
      ),
    );
    expect(second.repositories.map((r) => r.name)).toEqual(["library/app"]);
    expect(second.nextPageToken).toBe("");
    const bySize = await call<ListRepositoriesResponse>((cb) =>
      server.metadata.listRepositories({ pageSize: 0, pageToken: "", filter: [], orderBy: "total_size desc" }, cb),
    );
    expect(bySize.repositories.map((r) => [r.name, r.totalSize])).toEqual([
      ["library/app", BIG],
      ["team/os", 10],
    ]);
  });

  it("GetRepository returns the maintained aggregates", async () => {
    const res = await call<GetRepositoryResponse>((cb) => server.metadata.getRepository({ name: "library/app" }, cb));
    expect(res.repository).toEqual({
      name: "library/app",
      tagCount: 3,
      totalSize: BIG,
      artifactType: "",
      kind: ArtifactKind.ARTIFACT_KIND_IMAGE_INDEX,
      createTime: at(0),
      updateTime: at(30),
      labels: {},
    });
  });

  it("ListTags leaves manifest_json empty; GetTag fills it with platform sizes", async () => {
    const list = await call<ListTagsResponse>((cb) =>
      server.metadata.listTags(
        { repository: "library/app", pageSize: 0, pageToken: "", filter: [], orderBy: "push_time desc" },
        cb,
      ),
    );
    expect(list.tags.map((t) => t.name)).toEqual(["multi", "Latest", "latest"]);
    expect(list.tags.every((t) => t.manifestJson === "")).toBe(true);
    expect(list.tags[0]!.platformSizes).toHaveLength(2);

    const { tag } = await call<GetTagResponse>((cb) =>
      server.metadata.getTag({ repository: "library/app", tag: "multi" }, cb),
    );
    expect(tag).toMatchObject({
      repository: "library/app",
      name: "multi",
      digest: fakeDigest("library/app", "multi"),
      mediaType: "application/vnd.oci.image.index.v1+json",
      kind: ArtifactKind.ARTIFACT_KIND_IMAGE_INDEX,
      totalSize: BIG,
      layerCount: 2,
      incomplete: true,
      pushTime: at(30),
      platformSizes: [
        { digest: fakeDigest("arm64"), size: 1500, layerCount: 3, os: "linux", architecture: "arm64", variant: "v8" },
        { digest: fakeDigest("amd64"), size: BIG, layerCount: 4, os: "linux", architecture: "amd64", variant: "" },
      ],
    });
    expect(JSON.parse(tag!.manifestJson)).toEqual({ schemaVersion: 2, tag: "multi" });
    const upper = await call<GetTagResponse>((cb) =>
      server.metadata.getTag({ repository: "library/app", tag: "Latest" }, cb),
    );
    const lower = await call<GetTagResponse>((cb) =>
      server.metadata.getTag({ repository: "library/app", tag: "latest" }, cb),
    );
    expect([upper.tag!.manifestJson, lower.tag!.manifestJson]).toEqual(['{"upper":true}', '{"lower":true}']);
  });

  it("GetStats, ListBlobs and GetBlob", async () => {
    const stats = await call<GetStatsResponse>((cb) => server.metadata.getStats({}, cb));
    expect(stats).toEqual({
      repositoryCount: 2,
      tagCount: 4,
      blobCount: 1,
      totalSize: BIG,
      lastSyncTime: at(99),
      kinds: [
        { kind: ArtifactKind.ARTIFACT_KIND_CONTAINER_IMAGE, tagCount: 2 },
        { kind: ArtifactKind.ARTIFACT_KIND_CLOUD_IMAGE, tagCount: 1 },
        { kind: ArtifactKind.ARTIFACT_KIND_IMAGE_INDEX, tagCount: 1 },
      ],
    });
    const blobs = await call<ListBlobsResponse>((cb) =>
      server.metadata.listBlobs({ pageSize: 0, pageToken: "", filter: [] }, cb),
    );
    expect(blobs).toEqual({
      blobs: [
        {
          digest: fakeDigest("blob-a"),
          size: BIG,
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
          refCount: 2,
        },
      ],
      nextPageToken: "",
    });
    const blob = await call<GetBlobResponse>((cb) => server.metadata.getBlob({ digest: fakeDigest("blob-a") }, cb));
    expect(blob.blob?.refCount).toBe(2);
  });

  it("answers errors with their status code and reason trailer", async () => {
    const md = server.callMetadata();
    const cases: Array<[() => Promise<unknown>, status, string]> = [
      [
        () => call((cb) => server.metadata.getRepository({ name: "library/none" }, md, cb)),
        status.NOT_FOUND,
        "ERROR_REASON_REPOSITORY_NOT_FOUND",
      ],
      [
        () => call((cb) => server.metadata.getTag({ repository: "library/app", tag: "LATEST" }, md, cb)),
        status.NOT_FOUND,
        "ERROR_REASON_TAG_NOT_FOUND",
      ],
      [
        () => call((cb) => server.metadata.getTag({ repository: "library/app", tag: "-bad" }, md, cb)),
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_NAME",
      ],
      [
        () =>
          call((cb) =>
            server.metadata.listTags(
              { repository: "nope", pageSize: 0, pageToken: "", filter: [], orderBy: "" },
              md,
              cb,
            ),
          ),
        status.NOT_FOUND,
        "ERROR_REASON_REPOSITORY_NOT_FOUND",
      ],
      [
        () =>
          call((cb) =>
            server.metadata.listTags(
              { repository: "library/app", pageSize: -5, pageToken: "", filter: [], orderBy: "" },
              md,
              cb,
            ),
          ),
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_PAGE_SIZE",
      ],
      [
        () =>
          call((cb) =>
            server.metadata.listTags(
              { repository: "library/app", pageSize: 0, pageToken: "", filter: [], orderBy: "digest" },
              md,
              cb,
            ),
          ),
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ORDER_BY",
      ],
      [
        () =>
          call((cb) =>
            server.metadata.listRepositories({ pageSize: 0, pageToken: "eyJ2IjoxfQ", filter: [], orderBy: "" }, md, cb),
          ),
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_PAGE_TOKEN",
      ],
      [
        () =>
          call((cb) =>
            server.metadata.listRepositories(
              { pageSize: 0, pageToken: "", filter: ["kind=SNAPSHOT"], orderBy: "" },
              md,
              cb,
            ),
          ),
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_FILTER",
      ],
      [
        () => call((cb) => server.metadata.getBlob({ digest: "sha256:xyz" }, md, cb)),
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_DIGEST",
      ],
      [
        () => call((cb) => server.metadata.getBlob({ digest: fakeDigest("no-such-blob") }, md, cb)),
        status.NOT_FOUND,
        "ERROR_REASON_BLOB_NOT_FOUND",
      ],
    ];
    // Thunks: a rejected call must be awaited as soon as it starts, or it is an unhandled rejection.
    for (const [attempt, code, reason] of cases) {
      const e = await callError(attempt());
      expect([e.code, e.reason], e.details).toEqual([code, reason]);
    }
  });

  it("filters lists with containerd's syntax", async () => {
    const byKind = await call<ListTagsResponse>((cb) =>
      server.metadata.listTags(
        {
          repository: "library/app",
          pageSize: 0,
          pageToken: "",
          filter: ["kind==ARTIFACT_KIND_IMAGE_INDEX", "name~=^L"],
          orderBy: "",
        },
        cb,
      ),
    );
    expect(byKind.tags.map((t) => t.name)).toEqual(["Latest", "multi"]);
    const repos = await call<ListRepositoriesResponse>((cb) =>
      server.metadata.listRepositories({ pageSize: 0, pageToken: "", filter: ["artifact_type"], orderBy: "" }, cb),
    );
    expect(repos.repositories.map((r) => r.name)).toEqual(["team/os"]);
  });

  it("a token from one repository's list is refused for another", async () => {
    const page = await call<ListTagsResponse>((cb) =>
      server.metadata.listTags({ repository: "library/app", pageSize: 1, pageToken: "", filter: [], orderBy: "" }, cb),
    );
    expect(page.nextPageToken).not.toBe("");
    const e = await callError(
      call((cb) =>
        server.metadata.listTags(
          { repository: "team/os", pageSize: 1, pageToken: page.nextPageToken, filter: [], orderBy: "" },
          cb,
        ),
      ),
    );
    expect([e.code, e.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_PAGE_TOKEN"]);
  });

  // The client commands only talk gRPC: one dialect is enough to cover them.
  it.runIf(dialect === "sqlite")(
    "epoch-meta repos, tags and stats print tables and JSON through the server",
    async () => {
      const [repos, tagList, tagJson, stats, missing, filtered] = await Promise.all([
        cli(["repos", "list", "--order-by", "total_size desc"], server.address),
        cli(["tags", "list", "library/app", "--page-size", "2"], server.address),
        cli(["tags", "get", "library/app", "multi", "--json"], server.address),
        cli(["stats", "--json"], server.address),
        cli(["tags", "get", "library/app", "nope"], server.address),
        cli(
          ["tags", "list", "library/app", "--filter", "kind==IMAGE_INDEX", "--filter", "name==latest", "--json"],
          server.address,
        ),
      ]);
      expect(JSON.parse(filtered.stdout).tags.map((t: { name: string }) => t.name)).toEqual(["latest", "multi"]);
      expect(repos.stdout.split("\n")[0]).toMatch(/^NAME\s+TAGS\s+SIZE\s+KIND\s+UPDATED$/);
      expect(
        repos.stdout
          .split("\n")
          .slice(1, 3)
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(["library/app", "team/os"]);
      expect(repos.stdout).toContain("1.0 TiB");
      expect(
        tagList.stdout
          .split("\n")
          .slice(1, 3)
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(["Latest", "latest"]);
      expect(tagList.stderr).toMatch(/more results: --page-token [A-Za-z0-9_-]+/);
      expect(JSON.parse(tagJson.stdout).tag).toMatchObject({
        name: "multi",
        kind: "ARTIFACT_KIND_IMAGE_INDEX",
        totalSize: BIG,
        incomplete: true,
      });
      expect(JSON.parse(stats.stdout)).toMatchObject({
        repositoryCount: 2,
        tagCount: 4,
        blobCount: 1,
        lastSyncTime: at(99).toISOString(),
      });
      expect([repos.code, tagList.code, tagJson.code, stats.code]).toEqual([0, 0, 0, 0]);
      expect(missing.code).toBe(1);
      expect(missing.stderr.trim()).toBe(
        'epoch-meta: NOT_FOUND: tag "nope" not found in repository "library/app" (ERROR_REASON_TAG_NOT_FOUND)',
      );
    },
  );
});
