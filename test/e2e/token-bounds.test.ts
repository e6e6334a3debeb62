/**
 * A token's repository globs bound every call it makes (issue #14 item 3, DESIGN §2 "API
 * authentication"), through the real server and the generated client on SQLite and MariaDB:
 * lists show only repositories inside the bound (and their tags and blobs), in every order and
 * across keyset pages; a call naming a repository outside it is PERMISSION_DENIED whether or not
 * the repository exists; namespace-wide calls need an unbounded token; CreateToken never mints a
 * token wider than its caller, and records the caller as `created_by`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import type {
  GetBlobResponse,
  ListBlobsResponse,
  ListRepositoriesResponse,
  ListTagsResponse,
  SyncFromCatalogResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import type {
  CreateTokenRequest,
  CreateTokenResponse,
  ListTokensResponse,
} from "epoch-meta-client/epoch/v1/token_service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { createMigratedDatabase, forEachDialect } from "../helpers/database.js";
import { call, callError, callMetadata, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { fakeDigest, IndexSeeder } from "../helpers/seed-index.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const T0 = Date.UTC(2024, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);

// Every name that a glob of the tests could wrongly match sits next to one it should.
const REPOSITORIES = [
  "library/app",
  "library/web",
  "libraryx",
  "team/app/api",
  "team/a/b/api",
  "team/apix",
  "team/app/web",
  "zoo",
];
const ORDERS = ["", "update_time desc", "total_size desc"];
const SHARED = fakeDigest("blob", "shared");
const blobOf = (repository: string) => fakeDigest("blob", repository);

forEachDialect("Token repository bounds (e2e)", (dialect) => {
  let s: E2EServer;
  let cleanup: () => Promise<void>;
  let root: string;
  let rootId: number;
  let url: string;
  const md = (secret: string) => callMetadata(secret);

  const createAs = (secret: string, req: Partial<CreateTokenRequest>) =>
    call<CreateTokenResponse>((cb) =>
      s.tokens.createToken(
        { name: "t", createdBy: "", scopes: ["service"], repositories: [], ttl: undefined, ...req },
        md(secret),
        cb,
      ),
    );
  const denied = async (p: Promise<unknown>) => {
    const e = await callError(p);
    return [e.code, e.reason];
  };
  const DENIED = [status.PERMISSION_DENIED, "ERROR_REASON_PERMISSION_DENIED"];

  let registry: string | undefined;
  beforeAll(async () => {
    const created = await createMigratedDatabase(dialect);
    cleanup = created.cleanup;
    url = created.test.url;
    const seed = await new IndexSeeder(created.db).init();
    for (const [i, name] of REPOSITORIES.entries()) {
      // update_time and total_size orders differ from the name order and from each other.
      await seed.repository(name, { tagCount: 2, totalSize: ((i * 7) % 5) * 100 + i, updatedAt: at((i * 3) % 8) });
      await seed.tags(name, [{ name: "v1" }, { name: "v2" }]);
      await seed.manifestBlobs(name, "v1", [
        blobOf(name),
        ...(name === "library/web" || name === "zoo" ? [SHARED] : []),
      ]);
    }
    await seed.blobs([
      ...REPOSITORIES.map((name) => ({ digest: blobOf(name), size: 10, refCount: 1 })),
      { digest: SHARED, size: 20, refCount: 2 },
    ]);
    const offline = await createToken(new TokenStore(created.db), { name: "ops", scopes: ["admin"] });
    root = offline.secret;
    rootId = offline.token.id;
    // An empty registry that exists (a missing root answers STORAGE_UNAVAILABLE, not NOT_FOUND).
    registry = mkdtempSync(join(tmpdir(), "epoch-bounds-reg-"));
    s = await startE2EServer({
      databaseUrl: created.test.url,
      storageUrl: `file:${registry}`,
      env: { EPOCH_AUTH: "required" },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await cleanup?.();
    if (registry) rmSync(registry, { recursive: true, force: true });
  });

  async function listRepositories(secret: string, orderBy: string): Promise<string[]> {
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await call<ListRepositoriesResponse>((cb) =>
        s.metadata.listRepositories({ pageSize: 1, pageToken, filter: [], orderBy }, md(secret), cb),
      );
      names.push(...page.repositories.map((r) => r.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return names;
  }

  async function listBlobs(secret: string): Promise<string[]> {
    const digests: string[] = [];
    let pageToken = "";
    do {
      const page = await call<ListBlobsResponse>((cb) =>
        s.metadata.listBlobs({ pageSize: 1, pageToken, filter: [] }, md(secret), cb),
      );
      digests.push(...page.blobs.map((b) => b.digest));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return digests.sort();
  }

  describe("lists and reads", () => {
    let library: string;
    let teamApi: string;
    beforeAll(async () => {
      library = (await createAs(root, { name: "library-reader", repositories: ["library/*"] })).secret;
      // A middle wildcard (SQL narrows by GLOB/LIKE, not only a prefix range) and an exact name.
      teamApi = (await createAs(root, { name: "team-api", repositories: ["team/*/api", "zoo"] })).secret;
    });

    it.each(ORDERS)(
      "ListRepositories (order %j) pages through exactly the repositories inside the bound",
      async (order) => {
        const all = await listRepositories(root, order);
        expect([...all].sort()).toEqual([...REPOSITORIES].sort());
        // Same relative order as the unbounded listing, one repository per page.
        expect(await listRepositories(library, order)).toEqual(all.filter((n) => n.startsWith("library/")));
        expect(await listRepositories(teamApi, order)).toEqual(
          all.filter((n) => ["team/app/api", "team/a/b/api", "zoo"].includes(n)),
        );
      },
    );

    it("ListBlobs pages through exactly the blobs a tag inside the bound references", async () => {
      expect(await listBlobs(root)).toEqual([...REPOSITORIES.map(blobOf), SHARED].sort());
      expect(await listBlobs(library)).toEqual([blobOf("library/app"), blobOf("library/web"), SHARED].sort());
      expect(await listBlobs(teamApi)).toEqual(
        [blobOf("team/app/api"), blobOf("team/a/b/api"), blobOf("zoo"), SHARED].sort(),
      );
    });

    it("GetBlob outside the bound is NOT_FOUND, as if unreferenced (a digest says nothing of where it is used)", async () => {
      const get = (secret: string, digest: string) =>
        call<GetBlobResponse>((cb) => s.metadata.getBlob({ digest }, md(secret), cb));
      expect((await get(library, SHARED)).blob?.refCount).toBe(2);
      expect((await get(library, blobOf("library/app"))).blob?.digest).toBe(blobOf("library/app"));
      const outside = await callError(get(library, blobOf("team/app/api")));
      expect([outside.code, outside.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_BLOB_NOT_FOUND"]);
    });

    it("a repository outside the bound is PERMISSION_DENIED on every call that names it, existing or not", async () => {
      for (const repository of ["team/app/api", "libraryx", "nowhere/at-all"]) {
        expect(await denied(call((cb) => s.metadata.getRepository({ name: repository }, md(library), cb)))).toEqual(
          DENIED,
        );
        expect(
          await denied(
            call<ListTagsResponse>((cb) =>
              s.metadata.listTags({ repository, pageSize: 0, pageToken: "", filter: [], orderBy: "" }, md(library), cb),
            ),
          ),
        ).toEqual(DENIED);
        expect(await denied(call((cb) => s.metadata.getTag({ repository, tag: "v1" }, md(library), cb)))).toEqual(
          DENIED,
        );
        expect(await denied(call((cb) => s.metadata.indexTag({ repository, tag: "v1" }, md(library), cb)))).toEqual(
          DENIED,
        );
        expect(await denied(call((cb) => s.metadata.deleteTag({ repository, tag: "v1" }, md(library), cb)))).toEqual(
          DENIED,
        );
      }
      // The tag outside the bound is still there for a token that may see it.
      const tags = await call<ListTagsResponse>((cb) =>
        s.metadata.listTags(
          { repository: "team/app/api", pageSize: 0, pageToken: "", filter: [], orderBy: "" },
          md(teamApi),
          cb,
        ),
      );
      expect(tags.tags.map((t) => t.name)).toEqual(["v1", "v2"]);
    });

    it("inside the bound, the calls answer as for any token", async () => {
      const tags = await call<ListTagsResponse>((cb) =>
        s.metadata.listTags(
          { repository: "library/app", pageSize: 0, pageToken: "", filter: [], orderBy: "" },
          md(library),
          cb,
        ),
      );
      expect(tags.tags.map((t) => t.name)).toEqual(["v1", "v2"]);
      const missing = await callError(
        call((cb) => s.metadata.getRepository({ name: "library/none" }, md(library), cb)),
      );
      expect([missing.code, missing.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_REPOSITORY_NOT_FOUND"]);
      // IndexTag passes the bound and reaches the object store (which has no such manifest).
      const index = await callError(
        call((cb) => s.metadata.indexTag({ repository: "library/app", tag: "v9" }, md(library), cb)),
      );
      expect(index.code).toBe(status.NOT_FOUND);
    });

    it("namespace-wide calls (GetStats, a sync) need a token without repository limits", async () => {
      expect(await denied(call((cb) => s.metadata.getStats({}, md(library), cb)))).toEqual(DENIED);
      await expect(call((cb) => s.metadata.getStats({}, md(root), cb))).resolves.toBeTruthy();
      const boundAdmin = (await createAs(root, { name: "lib-admin", scopes: ["admin"], repositories: ["library/*"] }))
        .secret;
      const sync = collect<SyncFromCatalogResponse>(
        s.metadata.syncFromCatalog({ full: false, dryRun: true, allowMassRemoval: false }, md(boundAdmin)),
      );
      expect(await denied(sync)).toEqual(DENIED);
      expect(await denied(call((cb) => s.metadata.cancelSync({ runId: 1 }, md(boundAdmin), cb)))).toEqual(DENIED);
    });
  });

  describe("CreateToken never mints a token wider than its caller", () => {
    let libAdmin: CreateTokenResponse;
    beforeAll(async () => {
      libAdmin = await createAs(root, {
        name: "lib-admin",
        scopes: ["admin"],
        repositories: ["library/*", "shared/app"],
      });
    });

    it("records the authenticated caller as created_by, whatever the request says", async () => {
      expect(libAdmin.token?.createdBy).toBe(`token:${rootId}/ops`);
      const made = await createAs(libAdmin.secret, { createdBy: "mallory", repositories: ["library/app"] });
      expect(made.token?.createdBy).toBe(`token:${libAdmin.token!.id}/lib-admin`);
    });

    it("refuses repository globs that the caller's globs do not cover", async () => {
      for (const repositories of [[], ["*"], ["team/*"], ["library*"], ["library/app", "team/x"], ["shared/*"]]) {
        expect(await denied(createAs(libAdmin.secret, { repositories })), JSON.stringify(repositories)).toEqual(DENIED);
      }
      const narrower = await createAs(libAdmin.secret, {
        scopes: ["admin", "pull"],
        repositories: ["library/app", "library/team/*", "library/*/cache", "shared/app"],
      });
      expect(narrower.token?.repositories).toEqual(["library/app", "library/team/*", "library/*/cache", "shared/app"]);
      // What it minted is bound like its maker: it reaches library/, not team/.
      expect(
        await denied(call((cb) => s.metadata.getRepository({ name: "team/app/api" }, md(narrower.secret), cb))),
      ).toEqual(DENIED);
    });

    it("lists and deletes only the tokens it could have minted", async () => {
      const inside = await createAs(root, { name: "lib-ci", scopes: ["push"], repositories: ["library/app"] });
      const outside = await createAs(root, { name: "team-ci", scopes: ["push"], repositories: ["team/*"] });
      const listed: string[] = [];
      let pageToken = "";
      do {
        const page = await call<ListTokensResponse>((cb) =>
          s.tokens.listTokens({ pageSize: 2, pageToken }, md(libAdmin.secret), cb),
        );
        listed.push(...page.tokens.map((t) => t.name));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      expect(listed).toContain("lib-ci");
      expect(listed).not.toContain("team-ci");
      expect(listed).not.toContain("ops"); // its maker: no repository limit, wider than the caller
      expect(
        await denied(call((cb) => s.tokens.deleteToken({ id: outside.token!.id }, md(libAdmin.secret), cb))),
      ).toEqual(DENIED);
      // Refused means nothing was deleted: the unbounded admin still lists it.
      const all = await call<ListTokensResponse>((cb) =>
        s.tokens.listTokens({ pageSize: 0, pageToken: "" }, md(root), cb),
      );
      expect(all.tokens.map((t) => t.name)).toContain("team-ci");
      await call((cb) => s.tokens.deleteToken({ id: inside.token!.id }, md(libAdmin.secret), cb));
    });

    it("refuses an expiry later than the caller's", async () => {
      const hour = { seconds: 3600, nanos: 0 };
      const expiring = await createAs(root, { name: "temp-admin", scopes: ["admin"], ttl: hour });
      expect(await denied(createAs(expiring.secret, { ttl: undefined }))).toEqual(DENIED);
      expect(await denied(createAs(expiring.secret, { ttl: { seconds: 7200, nanos: 0 } }))).toEqual(DENIED);
      const shorter = await createAs(expiring.secret, { ttl: { seconds: 600, nanos: 0 } });
      expect(shorter.token!.expireTime!.getTime()).toBeLessThanOrEqual(expiring.token!.expireTime!.getTime());
    });
  });

  it("without authentication (loopback, EPOCH_AUTH=auto) the request's created_by is kept", async () => {
    const open = await startE2EServer({ databaseUrl: url, env: { EPOCH_AUTH: "auto" } });
    try {
      const made = await call<CreateTokenResponse>((cb) =>
        open.tokens.createToken(
          { name: "local", createdBy: "alice", scopes: ["pull"], repositories: [], ttl: undefined },
          callMetadata(),
          cb,
        ),
      );
      expect(made.token?.createdBy).toBe("alice");
    } finally {
      await open.stop();
    }
  });
});
