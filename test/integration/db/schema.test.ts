import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/db/data-source.js";
import { migrate, pendingMigrations } from "../../../src/db/migrate.js";
import { migrations } from "../../../src/db/migrations/index.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../../helpers/database.js";

forEachDialect("schema", (dialect) => {
  let test: TestDatabase;
  let a: Database;
  let b: Database;

  beforeAll(async () => {
    test = await createTestDatabase(dialect);
    a = await openDatabase(test.url);
    b = await openDatabase(test.url);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await test?.drop();
  });

  it("two concurrent migrate runs leave one correct schema", async () => {
    const all = migrations.map((M) => new M().name);
    expect(await pendingMigrations(a)).toHaveLength(all.length);
    const [ra, rb] = await Promise.all([migrate(a, { holder: "a" }), migrate(b, { holder: "b" })]);
    // Exactly one of them applied the migrations; the other found nothing left to do.
    expect([ra.applied, rb.applied].filter((applied) => applied.length > 0)).toEqual([all]);
    expect(await pendingMigrations(a)).toEqual([]);
    const namespaces = await a.ds.query("SELECT name FROM namespaces");
    expect(namespaces).toEqual([{ name: "default" }]);
  });

  it("matches the entities: TypeORM's schema diff is empty", async () => {
    const sql = await a.ds.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  describe("byte-wise names", () => {
    it("keeps `latest` and `Latest` as two tags of one repository", async () => {
      const now = new Date();
      const repo = await a.ds.getRepository("Repository").save({
        namespaceId: 1,
        name: "library/app",
        tagCount: 0,
        totalSize: 0,
        artifactType: "",
        kind: "",
        catalogUpdatedAt: null,
        createdAt: now,
        updatedAt: now,
      });
      const manifest = await a.ds.getRepository("Manifest").save({
        namespaceId: 1,
        digest: `sha256:${"a".repeat(64)}`,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "",
        kind: "CONTAINER_IMAGE",
        json: "{}",
        totalSize: 1,
        layerCount: 0,
        platformSizes: null,
      });
      const tag = (name: string) => ({
        repositoryId: repo.id,
        name,
        manifestId: manifest.id,
        digest: manifest.digest,
        kind: "CONTAINER_IMAGE",
        totalSize: 1,
        pushedAt: now,
        objectEtag: null,
        incomplete: false,
        indexedAt: now,
        syncedAt: null,
      });
      await a.ds.getRepository("Tag").save(tag("latest"));
      await a.ds.getRepository("Tag").save(tag("Latest"));
      const rows = await a.ds.getRepository("Tag").find({ where: { repositoryId: repo.id, name: "latest" } });
      expect(rows).toHaveLength(1);
      expect(await a.ds.getRepository("Tag").count({ where: { repositoryId: repo.id } })).toBe(2);
      // The same name twice is still refused by the unique key.
      await expect(a.ds.getRepository("Tag").insert(tag("latest"))).rejects.toThrow();
    });

    it("keeps milliseconds and reads numbers back as numbers", async () => {
      const t = new Date("2026-01-02T03:04:05.678Z");
      await a.ds.getRepository("Repository").save({
        namespaceId: 1,
        name: "ms/check",
        tagCount: 2 ** 40,
        totalSize: 2 ** 52,
        artifactType: "",
        kind: "",
        catalogUpdatedAt: "2026-01-02T03:04:05Z",
        createdAt: t,
        updatedAt: t,
      });
      const row = await a.ds.getRepository("Repository").findOneByOrFail({ name: "ms/check" });
      expect(row.createdAt.toISOString()).toBe(t.toISOString());
      expect(row.totalSize).toBe(2 ** 52);
      expect(typeof row.id).toBe("number");
    });
  });
});
