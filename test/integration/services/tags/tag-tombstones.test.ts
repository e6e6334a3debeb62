/**
 * A tag deleted during a sync stays deleted (issue #14 item 1), on SQLite and MariaDB: a run that
 * read the catalog is held between fetch and commit (the `after-fetch` fault point) while
 * DeleteTag removes tags the run has fetched — an updated one, a new one, a new repository's only
 * one — and answers OK. The run's commit brings none back, and the index equals what a fresh sync
 * of the store builds (tag counts, ref counts, stats). A tag pushed again after its delete is
 * indexed by the next sync, and the tombstones are pruned by it.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { image } from "../../../helpers/images.js";
import { gate } from "../../../helpers/pause-gate.js";
import {
  createSyncHarness,
  dumpIndex,
  freshDump,
  INCREMENTAL,
  runSync,
  type IndexDump,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const DELETED = [
  ["library/alpine", "3.19"], // indexed, re-pushed: the run fetched its new manifest
  ["library/alpine", "fresh"], // new in a known repository
  ["brand/new", "v1"], // the only tag of a new repository
] as const;

/** IndexTag does not apply the catalog: the repository it wrote keeps the run's catalog mark, not the newer one. */
const withoutCatalogMarks = (d: IndexDump) => ({
  ...d,
  repositories: d.repositories.map((r) => ({ ...r, catalogUpdatedAt: null })),
});

forEachDialect("A tag deleted during a sync stays deleted", (dialect) => {
  let h: SyncHarness;
  let held: ReturnType<typeof gate> | undefined;
  const tagsOf = async () => (await dumpIndex(h.db)).tags.map((t) => `${String(t.repository)}:${String(t.name)}`);
  const tombstones = async () => {
    const rows: Array<{ n: unknown }> = await h.db.ds.query("SELECT COUNT(*) AS n FROM tag_tombstones");
    return Number(rows[0]?.n);
  };

  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined, {
      faultPoints: (point) => held?.pausePoint(point),
    });
    await writeRegistryFixture(h.store, { broken: false });
    await runSync(h.sync);
    await h.layout.pushManifest("library/alpine", "3.19", image(11));
    await h.layout.pushManifest("library/alpine", "fresh", image(12));
    await h.layout.pushManifest("brand/new", "v1", image(13));
  });
  afterEach(async () => {
    held?.release();
    held = undefined;
    await h.cleanup();
  });

  it("does not commit the tags DeleteTag removed after the run read the catalog", async () => {
    held = gate("after-fetch");
    const run = await h.sync.start(INCREMENTAL, "api");
    await held.reached;
    for (const [repository, tag] of DELETED) await h.writer.deleteTag(repository, tag);
    held.release();
    const finished = await run.done;
    expect(finished.state).toBe("SUCCEEDED");

    const tags = await tagsOf();
    for (const [repository, tag] of DELETED) expect(tags).not.toContain(`${repository}:${tag}`);
    expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));

    // The next run reads a catalog that no longer lists them: it prunes their tombstones and changes nothing.
    expect(await tombstones()).toBe(DELETED.length);
    await runSync(h.sync);
    expect(await tombstones()).toBe(0);
    expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
  });

  it("indexes a deleted tag that is pushed again before the next run reads the catalog", async () => {
    for (const [repository, tag] of DELETED) await h.writer.deleteTag(repository, tag);
    await h.layout.pushManifest("brand/new", "v1", image(14));
    await runSync(h.sync);
    expect(await tagsOf()).toContain("brand/new:v1");
    expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
  });

  describe("IndexTag of the deleted tag while the run is held", () => {
    it("keeps what IndexTag wrote, not the run's older fetch", async () => {
      held = gate("after-fetch");
      const run = await h.sync.start(INCREMENTAL, "api");
      await held.reached;
      await h.writer.deleteTag("library/alpine", "fresh");
      await h.layout.pushManifest("library/alpine", "fresh", image(15));
      await h.writer.indexTag("library/alpine", "fresh");
      held.release();
      await run.done;
      const dump = withoutCatalogMarks(await dumpIndex(h.db));
      const fresh = withoutCatalogMarks(await freshDump(dialect, h.store));
      const freshTag = (d: IndexDump) => d.tags.find((t) => t.repository === "library/alpine" && t.name === "fresh");
      expect(freshTag(dump)?.digest).toBe(freshTag(fresh)?.digest);
      expect(dump).toEqual(fresh);
    });
  });
});
