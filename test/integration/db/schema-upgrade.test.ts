/**
 * Upgrading a database that holds data: from the first migration to the latest, every row stays
 * (on SQLite a new column may rebuild a table, which must not cascade into its children), and
 * the new column starts NULL, so the first sync after the upgrade reads every repository; the
 * label tables start empty and cascade from the rows they label; unreferenced blobs enter the
 * GC's review queue.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/db/data-source.js";
import { migrate, pendingMigrations } from "../../../src/db/migrate.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../../helpers/database.js";

const count = async (db: Database, table: string): Promise<number> =>
  Number((await db.ds.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);

forEachDialect("schema upgrade", (dialect) => {
  let test: TestDatabase;
  let db: Database;

  beforeEach(async () => {
    test = await createTestDatabase(dialect);
    db = await openDatabase(test.url);
  });
  afterEach(async () => {
    await db?.close();
    await test?.drop();
  });

  it("keeps every row when later migrations run over a populated first-version schema", async () => {
    const all = [...db.ds.migrations];
    // Only the first migration, as a database created by the first release holds it.
    Object.assign(db.ds, { migrations: all.slice(0, 1) });
    await migrate(db);
    const t = "2024-01-01 00:00:00.000";
    await db.ds.query(
      "INSERT INTO repositories (namespace_id, name, tag_count, total_size, artifact_type, kind, catalog_updated_at, created_at, updated_at) VALUES (1, 'library/alpine', 1, 10, '', 'CONTAINER_IMAGE', '2024-01-01T00:00:00Z', ?, ?)",
      [t, t],
    );
    await db.ds.query(
      "INSERT INTO manifests (namespace_id, digest, media_type, artifact_type, kind, json, total_size, layer_count) VALUES (1, 'sha256:m', 'application/vnd.oci.image.manifest.v1+json', '', 'CONTAINER_IMAGE', '{}', 10, 1)",
    );
    await db.ds.query(
      "INSERT INTO tags (repository_id, name, manifest_id, digest, kind, total_size, pushed_at, object_etag, incomplete, indexed_at, synced_at) VALUES (1, 'latest', 1, 'sha256:m', 'CONTAINER_IMAGE', 10, ?, '\"e\"', 0, ?, NULL)",
      [t, t],
    );
    await db.ds.query("INSERT INTO manifest_blobs (manifest_id, blob_digest) VALUES (1, 'sha256:b')");
    await db.ds.query(
      "INSERT INTO blobs (namespace_id, digest, size, media_type, ref_count) VALUES (1, 'sha256:b', 10, '', 1), (1, 'sha256:orphan', 5, '', 0)",
    );

    Object.assign(db.ds, { migrations: all });
    expect(await pendingMigrations(db)).toEqual(all.slice(1).map((m) => m.name));
    await migrate(db);
    expect(await pendingMigrations(db)).toEqual([]);
    for (const table of ["repositories", "tags", "manifests", "manifest_blobs"])
      expect({ table, rows: await count(db, table) }).toEqual({ table, rows: 1 });
    expect(await db.ds.query("SELECT name, catalog_updated_at, tag_set_sha256 FROM repositories")).toEqual([
      { name: "library/alpine", catalog_updated_at: "2024-01-01T00:00:00Z", tag_set_sha256: null },
    ]);
    // Blobs nothing referenced before the upgrade wait in the GC's review queue, as if just orphaned.
    expect(await db.ds.query("SELECT kind, repository, digest, state FROM gc_review_queue")).toEqual([
      { kind: "blob", repository: "", digest: "sha256:orphan", state: "pending" },
    ]);
    // Foreign keys still hold after the upgrade: a tag cannot point at a missing repository.
    await expect(
      db.ds.query(
        "INSERT INTO tags (repository_id, name, manifest_id, digest, kind, total_size, pushed_at, incomplete, indexed_at) VALUES (99, 'x', 1, 'sha256:m', '', 0, ?, 0, ?)",
        [t, t],
      ),
    ).rejects.toThrow(/FOREIGN KEY|foreign key/);
    // The label tables start empty and hang off the existing rows: a label of the existing tag is
    // accepted, one of a tag that does not exist is not, and removing the tag removes its labels.
    expect(await count(db, "tag_labels")).toBe(0);
    await db.ds.query(
      "INSERT INTO tag_labels (repository_id, tag_name, label_key, label_value, value_sha256) VALUES (1, 'latest', 'env', 'prod', 'h')",
    );
    await db.ds.query(
      "INSERT INTO repository_labels (namespace_id, repository_name, label_key, label_value, value_sha256) VALUES (1, 'library/alpine', 'env', 'prod', 'h')",
    );
    await expect(
      db.ds.query(
        "INSERT INTO tag_labels (repository_id, tag_name, label_key, label_value, value_sha256) VALUES (1, 'nope', 'env', 'prod', 'h')",
      ),
    ).rejects.toThrow(/FOREIGN KEY|foreign key/);
    await db.ds.query("DELETE FROM repositories");
    expect(await count(db, "tag_labels")).toBe(0);
    expect(await count(db, "repository_labels")).toBe(0);
  });
});
