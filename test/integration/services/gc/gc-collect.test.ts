/**
 * The collector over the fixture registry (DESIGN §8.5), on SQLite and MariaDB, with the directory
 * store and S3: a dry run lists exactly the orphans and deletes nothing; a full run deletes
 * exactly them; grace periods hold; after DeleteTag an online run deletes exactly that tag's
 * exclusive objects, with a request count that does not grow with the registry.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { writeScaleRegistry } from "../../../../src/demo/demo-registry.js";
import { blobKey, manifestDigestKey, manifestKey } from "../../../../src/storage/registry-layout.js";
import {
  unreferencedKeys,
  writeOrphans,
  writeRegistryFixture,
  type FixtureOrphans,
  type RegistryFixture,
} from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { allKeys, collector, invariantViolations, leftovers, runGc } from "../../../helpers/gc-harness.js";
import { useS3Server } from "../../../helpers/s3-server.js";
import { createSyncHarness, runSync, type StoreKind, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const s3 = useS3Server();
const HOUR = 3_600_000;

for (const kind of ["directory", "s3"] as StoreKind[]) {
  forEachDialect(`garbage collection (${kind})`, (dialect) => {
    let h: SyncHarness;
    let fx: RegistryFixture;
    let orphans: FixtureOrphans;
    let expectedOrphans: string[];
    beforeEach(async () => {
      h = await createSyncHarness(dialect, kind, s3());
      fx = await writeRegistryFixture(h.store);
      orphans = await writeOrphans(h.store);
      await runSync(h.sync);
      // Blobs and manifests nothing references, plus the upload left without a row (one prefix).
      expectedOrphans = [...(await unreferencedKeys(h.store, fx.tags)), orphans.uploadPrefix].sort();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("lists exactly the orphans in a dry run, deletes nothing, and then deletes exactly them", async () => {
      expect(expectedOrphans.length).toBeGreaterThanOrEqual(6); // 3 blobs, the lost child's blob, 1 manifest, 1 upload
      const gc = await collector(h);
      const before = await allKeys(h.store);
      const dry = await runGc(gc, { dryRun: true, full: true, gracePeriodMs: 0 });
      expect(dry.finished).toMatchObject({ state: "SUCCEEDED" });
      expect(dry.keys).toEqual(expectedOrphans);
      expect(await allKeys(h.store)).toEqual(before);
      expect(dry.events[0]).toMatchObject({ type: "started", joined: false });
      expect(dry.events.filter((e) => e.type === "finished")).toHaveLength(1);

      h.requests.reset();
      const real = await runGc(gc, { full: true, gracePeriodMs: 0 });
      expect(real.finished).toMatchObject({ state: "SUCCEEDED" });
      expect(real.keys).toEqual(expectedOrphans);
      // The inventory lists names and looks only at what the index does not reference (a HEAD
      // each: a stat on a directory); S3's listing carries sizes and dates, so there it HEADs
      // nothing. The upload's staging objects are listed with their sizes.
      const orphanObjects = expectedOrphans.filter((k) => k !== orphans.uploadPrefix).length;
      expect(h.requests.byOp.head).toBe(kind === "s3" ? 0 : orphanObjects);
      expect(real.finished.counts).toMatchObject({
        blobsDeleted: dry.finished.counts.blobsDeleted,
        manifestsDeleted: 1,
        uploadsDeleted: 1,
      });
      expect(real.finished.counts.bytesFreed).toBeGreaterThan(1_111 + 2_222 + 333);
      expect(await allKeys(h.store)).toEqual(before.filter((k) => !expectedOrphans.some((o) => k.startsWith(o))));
      expect(await invariantViolations(h.db, h.store)).toEqual([]);
      expect(await leftovers(h.db, h.store)).toEqual([]);
      // Nothing left to take.
      expect((await runGc(gc, { full: true, gracePeriodMs: 0 })).keys).toEqual([]);
    });

    it("keeps everything younger than the grace period", async () => {
      const gc = await collector(h);
      const before = await allKeys(h.store);
      const run = await runGc(gc, { full: true, gracePeriodMs: HOUR });
      expect(run.finished).toMatchObject({ state: "SUCCEEDED" });
      expect(run.keys).toEqual([]);
      await h.writer.deleteTag("library/debian", "bookworm");
      expect((await runGc(gc, { gracePeriodMs: HOUR })).keys).toEqual([]);
      expect(await allKeys(h.store)).toEqual(before.filter((k) => k !== manifestKey("library/debian", "bookworm")));
    });

    it("after DeleteTag, an online run deletes exactly the tag's exclusive objects, at a cost independent of the registry", async () => {
      const gc = await collector(h);
      const costOfDeleting = async (repository: string, tag: string) => {
        await h.writer.deleteTag(repository, tag);
        h.requests.reset();
        const run = await runGc(gc, { gracePeriodMs: 0 });
        expect(run.finished).toMatchObject({ state: "SUCCEEDED" });
        const sync = (await h.sync.status()).last!;
        expect(sync).toMatchObject({ trigger: "gc", runId: run.finished.syncRunId });
        // The run's count includes its sync's (the catalog, and the broken tags every changed catalog retries).
        expect(run.finished.counts.objectStoreRequests).toBe(h.requests.total);
        return {
          keys: run.keys,
          requests: h.requests.total,
          byOp: { ...h.requests.byOp },
          syncGets: sync.counts.objectStoreRequests,
        };
      };
      // library/debian:bookworm's layer is shared with library/redis; its config and manifest are its own.
      const debian = fx.tags.find((t) => t.repository === "library/debian")!;
      const debianLayer = debian.blobs.find((b) => b.mediaType.includes("rootfs"))!;
      const first = await costOfDeleting("library/debian", "bookworm");
      expect(first.keys).toEqual(
        [
          ...debian.blobs.filter((b) => b.digest !== debianLayer.digest).map((b) => blobKey(b.digest)),
          manifestDigestKey("library/debian", debian.digest!),
        ].sort(),
      );
      expect(await invariantViolations(h.db, h.store)).toEqual([]);
      // The sync's reads, one HEAD per candidate, one batch delete.
      expect(first.byOp).toMatchObject({
        get: first.syncGets,
        head: first.keys.length,
        deleteBatch: 1,
        list: 0,
        delete: 0,
        put: 0,
      });

      // Twenty times the tags: deleting another image costs a HEAD per object it leaves and the same rest.
      const read = await h.layout.readCatalog();
      if (read.status !== "ok") throw new Error("no catalog");
      await writeScaleRegistry(h.store, { tags: 300, tagsPerRepository: 50 });
      // The scale writer writes a catalog of its own: put the fixture's repositories back in.
      await h.layout.updateCatalog((doc) => {
        for (const [name, entry] of read.catalog.document.repositories) doc.repositories.set(name, entry);
        return true;
      });
      await runSync(h.sync);
      const chart = fx.tags.find((t) => t.repository === "charts/demo")!;
      const second = await costOfDeleting("charts/demo", "0.1.0");
      expect(second.keys).toHaveLength(chart.blobs.length + 1);
      // One HEAD per candidate; everything else is the same few requests.
      expect(second.byOp.head).toBe(second.keys.length);
      expect(second.requests - second.keys.length).toBe(first.requests - first.keys.length);
    });
  });
}
