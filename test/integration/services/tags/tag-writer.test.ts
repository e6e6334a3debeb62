/**
 * IndexTag and DeleteTag (TagWriter) on SQLite and MariaDB, with the directory store and S3:
 * rows, aggregates and stats equal what a fresh sync builds; errors say what is wrong; a tag
 * IndexTag wrote after a sync read the catalog survives that sync.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { imageManifestBytes } from "../../../../src/demo/demo-builder.js";
import { CATALOG_KEY, manifestKey, removeCatalogTag } from "../../../../src/storage/registry-layout.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { rejection } from "../../../helpers/errors.js";
import { blob, image, OCI_CONFIG } from "../../../helpers/images.js";
import { useS3Server } from "../../../helpers/s3-server.js";
import {
  BLOB_RECOUNT,
  createSyncHarness,
  dumpIndex,
  freshDump,
  indexWrites,
  INCREMENTAL,
  runSync,
  TAG_RECOUNT,
  type IndexDump,
  type StoreKind,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const s3 = useS3Server();

/** IndexTag does not apply the catalog, so a repository it creates has no catalog_updated_at yet. */
const withoutCatalogMarks = (d: IndexDump) => ({
  ...d,
  repositories: d.repositories.map((r) => ({ ...r, catalogUpdatedAt: null })),
});

for (const kind of ["directory", "s3"] as StoreKind[]) {
  forEachDialect(`IndexTag and DeleteTag (${kind})`, (dialect) => {
    let h: SyncHarness;
    beforeEach(async () => {
      h = await createSyncHarness(dialect, kind, s3());
      await writeRegistryFixture(h.store, { broken: false });
      await runSync(h.sync);
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("indexes a pushed tag now, with the aggregates and stats a sync would give", async () => {
      await h.layout.pushManifest("library/alpine", "3.20", image(1));
      await h.layout.pushManifest("brand/new", "v1", image(2));
      h.requests.reset();
      const facts = await h.writer.indexTag("library/alpine", "3.20");
      expect(h.requests.log).toEqual([{ op: "get", key: manifestKey("library/alpine", "3.20") }]);
      expect(facts).toMatchObject({
        repository: "library/alpine",
        tag: "3.20",
        incomplete: false,
        manifest: { kind: "CONTAINER_IMAGE", totalSize: 101 + 5001 },
      });
      await h.writer.indexTag("brand/new", "v1");
      expect(withoutCatalogMarks(await dumpIndex(h.db))).toEqual(
        withoutCatalogMarks(await freshDump(dialect, h.store)),
      );

      // Re-indexing an unchanged tag changes nothing.
      const before = await dumpIndex(h.db);
      await h.writer.indexTag("brand/new", "v1");
      expect(await dumpIndex(h.db)).toEqual(before);
    });

    it("indexes an index whose child is missing as incomplete", async () => {
      await writeRegistryFixture(h.store); // adds the broken entries
      const facts = await h.writer.indexTag("broken/index", "partial");
      expect(facts).toMatchObject({ incomplete: true, manifest: { kind: "IMAGE_INDEX", layerCount: 2 } });
      expect((await dumpIndex(h.db)).tags.find((t) => t.repository === "broken/index")).toMatchObject({
        incomplete: true,
      });
    });

    it("says what is wrong without writing", async () => {
      h.statements.reset();
      h.requests.reset();
      expect(await rejection(h.writer.indexTag("Bad/Name", "x"))).toMatchObject({
        kind: "invalid_argument",
        reason: "INVALID_NAME",
      });
      expect(await rejection(h.writer.indexTag("library/alpine", "bad tag"))).toMatchObject({
        kind: "invalid_argument",
        reason: "INVALID_NAME",
      });
      expect(h.requests.total).toBe(0);
      expect(await rejection(h.writer.indexTag("library/alpine", "nope"))).toMatchObject({
        kind: "not_found",
        reason: "MANIFEST_MISSING",
      });
      await h.store.put(manifestKey("library/alpine", "junk"), Buffer.from("[1,2"));
      expect(await rejection(h.writer.indexTag("library/alpine", "junk"))).toMatchObject({
        kind: "failed_precondition",
        reason: "MANIFEST_INVALID",
      });
      expect(await rejection(h.writer.deleteTag("library/alpine", "nope"))).toMatchObject({
        kind: "not_found",
        reason: "TAG_NOT_FOUND",
      });
      expect(await rejection(h.writer.deleteTag("nowhere/repo", "v1"))).toMatchObject({
        kind: "not_found",
        reason: "REPOSITORY_NOT_FOUND",
      });
      expect(h.requests.count({ op: "put" }) + h.requests.count({ op: "delete" })).toBe(0);
      expect(indexWrites(h.statements)).toEqual([]);
    });

    it("deletes a tag from the store and the index; the repository goes with its last tag", async () => {
      await h.writer.deleteTag("library/alpine", "3.19");
      expect(await h.store.head(manifestKey("library/alpine", "3.19"))).toBeNull();
      expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
      // The catalog changed but the repository did not move: the next sync skips it.
      h.requests.reset();
      expect((await runSync(h.sync)).finished.counts).toMatchObject({
        objectStoreRequests: 1,
        tagsRemoved: 0,
        tagsUpdated: 0,
      });
      expect(h.requests.log).toEqual([{ op: "get", key: CATALOG_KEY }]);

      await h.writer.deleteTag("library/debian", "bookworm");
      const dump = await dumpIndex(h.db);
      expect(dump.repositories.map((r) => r.name)).not.toContain("library/debian");
      expect(dump).toEqual(await freshDump(dialect, h.store));
    });

    it("deletes a listed tag that is not indexed yet", async () => {
      await h.layout.pushManifest("late/repo", "v1", image(3));
      await h.writer.deleteTag("late/repo", "v1");
      expect(await h.store.head(manifestKey("late/repo", "v1"))).toBeNull();
      expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
    });

    it("moves the stats by what one write changed, never by a recount, to what a recount gives", async () => {
      const shared = blob(7001, 7001);
      const manifestA = imageManifestBytes({ config: blob(7002, 72, OCI_CONFIG), layers: [shared, blob(7003, 7003)] });
      const manifestB = imageManifestBytes({ config: blob(7004, 74, OCI_CONFIG), layers: [shared, blob(7005, 7005)] });
      // No image config media type: a kind of its own (UNKNOWN), sharing a blob with the images.
      const other = imageManifestBytes({
        config: blob(7006, 76, "application/vnd.example.config.v1+json"),
        layers: [shared],
      });
      const steps: Array<[string, () => Promise<unknown>]> = [
        [
          "new repository",
          async () => (await h.layout.pushManifest("stats/a", "v1", manifestA), h.writer.indexTag("stats/a", "v1")),
        ],
        [
          "second repository sharing a layer",
          async () => (await h.layout.pushManifest("stats/b", "v1", manifestB), h.writer.indexTag("stats/b", "v1")),
        ],
        [
          "retag onto the other manifest",
          async () => (await h.layout.pushManifest("stats/a", "v1", manifestB), h.writer.indexTag("stats/a", "v1")),
        ],
        [
          "a tag of another kind",
          async () => (await h.layout.pushManifest("stats/a", "x", other), h.writer.indexTag("stats/a", "x")),
        ],
        ["re-index, nothing changed", () => h.writer.indexTag("stats/a", "x")],
        ["delete a tag whose manifest stays", () => h.writer.deleteTag("stats/b", "v1")],
        ["delete the last tag of another kind", () => h.writer.deleteTag("stats/a", "x")],
        ["delete a repository's last tag", () => h.writer.deleteTag("stats/a", "v1")],
      ];
      for (const [step, write] of steps) {
        h.statements.reset();
        await write();
        // Neither the blob scan nor the tag count of recomputeStats ran.
        expect([...h.statements.matching(BLOB_RECOUNT), ...h.statements.matching(TAG_RECOUNT)], step).toEqual([]);
        expect((await dumpIndex(h.db)).stats, step).toEqual((await freshDump(dialect, h.store)).stats);
      }
    });

    it("keeps a tag IndexTag wrote after a running sync read the catalog", async () => {
      await h.layout.updateCatalog((doc, now) => removeCatalogTag(doc, "library/alpine", "Latest", now));
      let arrive!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => (arrive = r));
      const opened = new Promise<void>((r) => (release = r));
      h.faults.beforeRequest({
        op: "get",
        keyMatch: /^manifests\/library\/alpine\//,
        times: 1,
        fn: async () => {
          arrive();
          await opened;
        },
      });
      const run = await h.sync.start(INCREMENTAL, "api");
      await reached;
      await h.writer.indexTag("library/alpine", "Latest");
      release();
      const finished = await run.done;
      expect(finished.counts.tagsRemoved).toBe(0);
      expect((await dumpIndex(h.db)).tags.some((t) => t.repository === "library/alpine" && t.name === "Latest")).toBe(
        true,
      );
    });
  });
}
