/**
 * What keeps a pushed image safe from the collector (DESIGN §8.5), on SQLite and MariaDB: IndexTag
 * of a manifest that needs a collected blob fails BLOB_UNKNOWN until the blob is pushed again, and
 * a sync indexes such a tag incomplete; a crash at each named point leaves the invariant whole and,
 * after a full run, nothing behind; sync and GC exclude each other; a cancel ends the run CANCELLED.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { imageManifestBytes, seededBytes } from "../../../../src/demo/demo-builder.js";
import { isEpochError } from "../../../../src/errors.js";
import { configureLogger } from "../../../../src/logger.js";
import type { GcFaultPoint } from "../../../../src/services/gc/gc-types.js";
import { blobKey } from "../../../../src/storage/registry-layout.js";
import { forEachDialect } from "../../../helpers/database.js";
import { collector, invariantViolations, leftovers, runGc } from "../../../helpers/gc-harness.js";
import { gate } from "../../../helpers/pause-gate.js";
import {
  createSyncHarness,
  expireSyncLease,
  failuresOf,
  runSync,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

/** Pushes blobs with real content and an image manifest over them; returns the blob descriptors. */
async function pushImage(h: SyncHarness, repository: string, tag: string, seeds: string[]) {
  const blobs = [];
  for (const seed of seeds) {
    const bytes = seededBytes(seed, 200 + seed.length);
    const { digest } = await h.layout.pushBlob(bytes);
    blobs.push({ digest, size: bytes.length, mediaType: blobs.length === 0 ? CONFIG : LAYER });
  }
  await h.layout.pushManifest(repository, tag, imageManifestBytes({ config: blobs[0]!, layers: blobs.slice(1) }));
  return blobs;
}

/** A start point that moves along the run (which outcome each start gets is not asserted: both are right). */
const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const reasonOf = (e: unknown) => (isEpochError(e) ? e.reason : String(e));

forEachDialect("garbage collection safety", (dialect) => {
  let h: SyncHarness;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("refuses IndexTag of a manifest that needs a collected blob until the blob is pushed again", async () => {
    const [config, layer] = await pushImage(h, "app/one", "v1", ["one-config", "shared-layer"]);
    await h.writer.indexTag("app/one", "v1");
    await h.writer.deleteTag("app/one", "v1");
    const gc = await collector(h);
    const run = await runGc(gc);
    expect(run.keys).toContain(blobKey(layer!.digest));

    // A push that uploaded its layer before the collection and its manifest after it.
    await h.layout.pushManifest("app/two", "v1", imageManifestBytes({ config: config!, layers: [layer!] }));
    const refused = await h.writer.indexTag("app/two", "v1").catch((e: unknown) => e);
    expect(reasonOf(refused)).toBe("BLOB_UNKNOWN");
    expect((refused as Error).message).toMatch(/garbage collected/);

    // Pushed again: IndexTag takes them (the collector's tombstones are forgotten).
    await pushImage(h, "app/two", "v1", ["one-config", "shared-layer"]);
    await expect(h.writer.indexTag("app/two", "v1")).resolves.toMatchObject({ incomplete: false });
    expect(await invariantViolations(h.db, h.store)).toEqual([]);
  });

  it("indexes such a tag incomplete in a sync, with a BLOB_UNKNOWN failure", async () => {
    const [config, layer] = await pushImage(h, "app/one", "v1", ["one-config", "lost-layer"]);
    await runSync(h.sync);
    await h.writer.deleteTag("app/one", "v1");
    await runGc(await collector(h));
    await h.layout.pushManifest("app/two", "v1", imageManifestBytes({ config: config!, layers: [layer!] }));
    const { events, finished } = await runSync(h.sync);
    expect(finished.state).toBe("DEGRADED");
    expect(failuresOf(events)).toMatchObject([{ repository: "app/two", tag: "v1", reason: "BLOB_UNKNOWN" }]);
    const [tag] = await h.db.ds.query("SELECT incomplete FROM tags");
    expect(Number(tag.incomplete)).toBe(1);
    expect(await invariantViolations(h.db, h.store)).toEqual([]);
  });

  it("refuses the blobs of a run that marked them and crashed before deleting, and the next run deletes them", async () => {
    const [config, layer] = await pushImage(h, "app/one", "v1", ["one-config", "layer"]);
    await runSync(h.sync);
    await h.writer.deleteTag("app/one", "v1");
    const crashing = await collector(h, {
      faultPoints: (p) => {
        if (p === "after-mark") throw new Error("kill -9");
      },
    });
    await expect(runGc(crashing)).rejects.toThrow(/simulated crash at after-mark/);
    // The index gave the blobs up, their objects are still there: IndexTag must not take them back.
    expect(await h.store.head(blobKey(layer!.digest))).not.toBeNull();
    await h.layout.pushManifest("app/two", "v1", imageManifestBytes({ config: config!, layers: [layer!] }));
    expect(reasonOf(await h.writer.indexTag("app/two", "v1").catch((e: unknown) => e))).toBe("BLOB_UNKNOWN");

    await expireSyncLease(h.db);
    const next = await runGc(await collector(h));
    expect(next.keys).toEqual(expect.arrayContaining([blobKey(layer!.digest), blobKey(config!.digest)]));
    expect(await h.store.head(blobKey(layer!.digest))).toBeNull();
  });

  it("races IndexTag against the marking transaction: either the tag keeps its blob or IndexTag is refused", async () => {
    for (let i = 0; i < 12; i++) {
      const [config, layer] = await pushImage(h, `race/old-${i}`, "v1", [`cfg-${i}`, `layer-${i}`]);
      await h.writer.indexTag(`race/old-${i}`, "v1");
      await h.writer.deleteTag(`race/old-${i}`, "v1");
      // The manifest lands after the collection's sync read the catalog (else the sync indexes it);
      // IndexTag starts when the collection HEADs the layer, a little later each round.
      let indexing: Promise<string> | undefined;
      const gc = await collector(h, {
        faultPoints: async (p) => {
          if (p !== "after-sync") return;
          await h.layout.pushManifest(`race/new-${i}`, "v1", imageManifestBytes({ config: config!, layers: [layer!] }));
          h.faults.beforeRequest({
            op: "head",
            keyMatch: blobKey(layer!.digest),
            times: 1,
            fn: () => {
              indexing = later(i).then(() =>
                h.writer.indexTag(`race/new-${i}`, "v1").then(
                  () => "indexed",
                  (e: unknown) => reasonOf(e),
                ),
              );
            },
          });
        },
      });
      await runGc(gc);
      const outcome = await indexing!;
      expect(["indexed", "BLOB_UNKNOWN"]).toContain(outcome);
      expect(await invariantViolations(h.db, h.store)).toEqual([]);
      const kept = (await h.store.head(blobKey(layer!.digest))) !== null;
      expect({ outcome, kept }).toEqual({ outcome, kept: outcome === "indexed" });
    }
  });

  describe("a crash at every point, then a full run", () => {
    for (const point of ["lease-taken", "after-sync", "after-mark", "after-delete-batch", "before-finish"] as const) {
      it(`at ${point}: the invariant holds and nothing is left behind`, async () => {
        await pushImage(h, "app/keep", "v1", ["keep-config", "base-layer", "keep-layer"]);
        await pushImage(h, "app/drop", "v1", ["drop-config", "base-layer", "drop-layer"]);
        await pushImage(h, "app/drop", "v2", ["drop2-config", "drop2-layer"]);
        await runSync(h.sync);
        await h.writer.deleteTag("app/drop", "v1");
        await h.writer.deleteTag("app/drop", "v2");
        const crashing = await collector(h, {
          faultPoints: (p: GcFaultPoint) => {
            if (p === point) throw new Error("kill -9");
          },
        });
        await expect(runGc(crashing, { full: point !== "after-mark" })).rejects.toThrow(/simulated crash/);
        expect(await invariantViolations(h.db, h.store)).toEqual([]);
        await expireSyncLease(h.db);
        const full = await runGc(await collector(h), { full: true });
        expect(full.finished).toMatchObject({ state: "SUCCEEDED" });
        expect(await invariantViolations(h.db, h.store)).toEqual([]);
        expect(await leftovers(h.db, h.store)).toEqual([]);
        const [runs] = await h.db.ds.query("SELECT COUNT(*) AS n FROM gc_runs WHERE state = 'RUNNING'");
        expect(Number(runs.n)).toBe(0);
      });
    }
  });

  it("never overlaps a sync: each refuses the other with its own reason", async () => {
    const syncGate = gate("after-catalog");
    const paused = h.replica({ faultPoints: syncGate.pausePoint });
    await pushImage(h, "app/one", "v1", ["c", "l"]);
    const syncing = runSync(paused);
    await syncGate.reached;
    const gc = await collector(h);
    expect(reasonOf(await gc.start({ dryRun: false, full: false }, "api").catch((e: unknown) => e))).toBe(
      "SYNC_IN_PROGRESS",
    );
    syncGate.release();
    await syncing;

    const gcGate = gate("after-sync");
    const slow = await collector(h, { faultPoints: (p) => gcGate.pausePoint(p) });
    const collecting = runGc(slow);
    await gcGate.reached;
    expect(reasonOf(await runSync(h.sync).catch((e: unknown) => e))).toBe("GC_IN_PROGRESS");
    // Another replica's collector is refused; a second caller on this server joins.
    const other = await collector(h, { sync: h.replica() });
    expect(reasonOf(await other.start({ dryRun: false, full: false }, "api").catch((e: unknown) => e))).toBe(
      "GC_IN_PROGRESS",
    );
    const joined = await slow.start({ dryRun: false, full: false, gracePeriodMs: 0 }, "api");
    expect(joined.joined).toBe(true);
    gcGate.release();
    expect((await collecting).finished.state).toBe("SUCCEEDED");
    expect((await joined.done).runId).toBe(joined.runId);
  });

  it("ends CANCELLED when cancelled, from any replica", async () => {
    await pushImage(h, "app/one", "v1", ["c", "l"]);
    const gcGate = gate("after-sync");
    const gc = await collector(h, { faultPoints: (p) => gcGate.pausePoint(p), cancelPollMs: 10 });
    const ticket = await gc.start({ dryRun: false, full: true, gracePeriodMs: 0 }, "api");
    await gcGate.reached;
    const other = await collector(h, { sync: h.replica() });
    expect((await other.status()).current).toMatchObject({ runId: ticket.runId, state: "RUNNING" });
    await other.cancel(ticket.runId);
    gcGate.release();
    const finished = await ticket.done;
    expect(finished).toMatchObject({ state: "CANCELLED", errorReason: "CANCELLED" });
    expect((await other.status()).last).toMatchObject({ runId: ticket.runId, state: "CANCELLED" });
    expect(reasonOf(await other.cancel(ticket.runId).catch((e: unknown) => e))).toBe("SYNC_FINISHED");
    expect(reasonOf(await other.cancel(999_999).catch((e: unknown) => e))).toBe("GC_RUN_NOT_FOUND");
  });
});
