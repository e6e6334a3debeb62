/**
 * An Epoch database adopted with the real CLI (`epoch-meta migrate --from-epoch`), then served by
 * the real server (MariaDB; Epoch is MySQL-only): `serve` refuses the database before adoption;
 * after it, Epoch's two 64-hex secrets validate over gRPC with their adopted scopes (and may call
 * no API); the first SyncFromCatalog against the same registry adds none of the adopted tags and
 * leaves the index exactly equal to a fresh sync's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import {
  SyncFromCatalogRequest,
  type GetTagResponse,
  type ListRepositoriesResponse,
  type SyncFromCatalogResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import { ArtifactKind } from "epoch-meta-client/epoch/v1/resources";
import type { ListTokensResponse, ValidateTokenResponse } from "epoch-meta-client/epoch/v1/token_service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { writeRegistryFixture, type RegistryFixture } from "../fixtures/registry-fixture.js";
import { runCli } from "../helpers/cli.js";
import { createTestDatabase, mariadbServerUrl, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { createEpochDatabase, EPOCH_TOKENS, type EpochDatabase } from "../helpers/epoch-schema.js";
import { dumpIndex, freshDump, type IndexDump } from "../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const maria = mariadbServerUrl() ? describe : describe.skip;
if (!mariadbServerUrl()) console.warn("*** SKIPPED: epoch adoption e2e [mariadb] — no MariaDB server ***");

for (const shape of ["v0.1.7", "older"] as const) {
  maria(`an adopted Epoch database (${shape} shape) through the real server [mariadb]`, () => {
    let testDb: TestDatabase;
    let dir: string;
    let fx: RegistryFixture;
    let epoch: EpochDatabase;
    let db: Database;
    let s: E2EServer;
    let admin: string;
    let cliOutput: string;
    let serveRefusal: unknown;
    let fresh: IndexDump;

    beforeAll(async () => {
      testDb = await createTestDatabase("mariadb");
      dir = mkdtempSync(join(tmpdir(), "epoch-adopt-e2e-"));
      const store = new DirectoryObjectStore(dir, { durable: false });
      fx = await writeRegistryFixture(store);
      epoch = await createEpochDatabase(testDb.url, store, { shape });
      const options = { databaseUrl: testDb.url, storageUrl: `file:${dir}`, env: { EPOCH_AUTH: "required" } };
      serveRefusal = await startE2EServer(options).then(
        async (started) => {
          await started.stop();
          return undefined;
        },
        (e: unknown) => e,
      );

      const adopted = await runCli(["migrate", "--from-epoch"], {
        EPOCH_DATABASE_URL: testDb.url,
        EPOCH_LOG_LEVEL: "warn",
      });
      expect(adopted.code, adopted.stderr).toBe(0);
      cliOutput = adopted.stdout;

      db = await openDatabase(testDb.url);
      admin = (await createToken(new TokenStore(db), { name: "ops", scopes: ["admin"] })).secret;
      fresh = await freshDump("mariadb", store);
      s = await startE2EServer(options);
    });
    afterAll(async () => {
      await s?.stop();
      await db?.close();
      await epoch?.close();
      await testDb?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const md = callMetadata;

    it("`serve` refused the database before adoption, naming `migrate --from-epoch`", () => {
      expect(String((serveRefusal as Error | undefined)?.message)).toMatch(/epoch-meta migrate --from-epoch/);
      expect(cliOutput).toContain("adopted the Epoch database");
    });

    it("validates Epoch's 64-hex secrets with the adopted token, its scopes and no expiry", async () => {
      for (const t of EPOCH_TOKENS) {
        for (const action of ["", "pull", "push", "delete"]) {
          const res = await call<ValidateTokenResponse>((cb) =>
            s.tokens.validateToken({ secret: t.secret, repository: "library/alpine", action }, md(admin), cb),
          );
          expect(res.valid, `${t.name} ${action}`).toBe(true);
          expect(res.token).toMatchObject({
            id: t.id,
            name: t.name,
            createdBy: t.createdBy,
            scopes: ["pull", "push", "delete"],
            repositories: [],
          });
          expect(res.token?.expireTime).toBeUndefined();
          expect(res.token?.createTime?.toISOString()).toBe(t.createdAt.toISOString());
        }
        // A one-character change is an unknown token, not a match.
        const wrong = await call<ValidateTokenResponse>((cb) =>
          s.tokens.validateToken(
            { secret: `${t.secret.slice(0, 63)}${t.secret.endsWith("0") ? "1" : "0"}`, repository: "", action: "" },
            md(admin),
            cb,
          ),
        );
        expect(wrong.valid).toBe(false);
      }
    });

    it("gives adopted tokens registry actions only: they may call no API", async () => {
      const err = await callError(call((cb) => s.metadata.getStats({}, md(EPOCH_TOKENS[0]!.secret), cb)));
      expect(err.code).toBe(status.PERMISSION_DENIED);
      const listed = await call<ListTokensResponse>((cb) =>
        s.tokens.listTokens({ pageSize: 0, pageToken: "" }, md(admin), cb),
      );
      expect(listed.tokens.filter((t) => t.name !== "ops").map((t) => ({ id: t.id, name: t.name }))).toEqual(
        EPOCH_TOKENS.map((t) => ({ id: t.id, name: t.name })),
      );
    });

    it("lists the adopted repositories and tags before any sync, with Epoch's index sizes", async () => {
      const repos = await call<ListRepositoriesResponse>((cb) =>
        s.metadata.listRepositories({ pageSize: 0, pageToken: "", filter: [], orderBy: "" }, md(admin), cb),
      );
      // Epoch's repositories with a tag a sync can index (not the one holding only the negative-size manifest).
      const valid = new Set(fx.indexable.map((t) => t.digest));
      const expected = new Set(epoch.tags.filter((t) => valid.has(`sha256:${t.digest}`)).map((t) => t.repository));
      expect(repos.repositories.map((r) => r.name)).toEqual([...expected].sort());
      const busybox = fx.indexable.find((t) => t.repository === "library/busybox" && t.tag === "1.36")!;
      const got = await call<GetTagResponse>((cb) =>
        s.metadata.getTag({ repository: "library/busybox", tag: "1.36" }, md(admin), cb),
      );
      expect(got.tag).toMatchObject({
        digest: busybox.digest,
        kind: ArtifactKind.ARTIFACT_KIND_IMAGE_INDEX,
        totalSize: busybox.totalSize,
        layerCount: busybox.layerCount,
        // Older Epochs kept no platform sizes: they come with the first sync.
        platformSizes: shape === "older" ? [] : busybox.platformSizes,
        pushTime: new Date(busybox.createdAt!),
      });
    });

    it("the first sync adds none of the adopted tags and leaves the index equal to a fresh sync's", async () => {
      const adoptedTags: Array<{ repository: string; name: string }> = await db.ds.query(
        "SELECT r.name AS repository, t.name FROM tags t JOIN repositories r ON r.id = t.repository_id",
      );
      const adopted = new Set(adoptedTags.map((t) => `${t.repository}:${t.name}`));
      // Epoch's `_ci` collation kept one of `Latest`/`latest`: the sync brings the other back.
      const missing = fx.indexable.filter((t) => !adopted.has(`${t.repository}:${t.tag}`));
      expect(missing.length).toBeGreaterThan(0);

      const responses = await collect<SyncFromCatalogResponse>(
        s.metadata.syncFromCatalog(SyncFromCatalogRequest.fromPartial({}), md(admin)),
      );
      const finished = responses.at(-1)?.event;
      if (finished?.$case !== "finished") throw new Error("the stream did not end with finished");
      expect(finished.finished.counts).toMatchObject({
        tagsAdded: missing.length,
        tagsUpdated: expect.any(Number),
        tagsUnchanged: expect.any(Number),
        tagsRemoved: 0,
        repositoriesAdded: 0,
        repositoriesRemoved: 0,
      });
      const c = finished.finished.counts!;
      expect(c.tagsUpdated + c.tagsUnchanged).toBe(adopted.size);
      expect(await dumpIndex(db)).toEqual(fresh);
    });
  });
}
