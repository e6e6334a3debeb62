/**
 * The server's own collections (GcScheduler) on SQLite and MariaDB: a namespace never collected
 * is collected on the first look (trigger "timer"); once collected, it is collected again before
 * the interval when more review-queue rows than EPOCH_GC_QUEUE_TRIGGER are due (trigger "queue").
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { imageManifestBytes, seededBytes } from "../../../../src/demo/demo-builder.js";
import { configureLogger } from "../../../../src/logger.js";
import { GcScheduler } from "../../../../src/services/gc/gc-scheduler.js";
import { forEachDialect } from "../../../helpers/database.js";
import { collector } from "../../../helpers/gc-harness.js";
import { createSyncHarness, runSync, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

/** Waits (by polling the runs table, bounded) until `n` runs have finished. */
async function finishedRuns(h: SyncHarness, n: number): Promise<string[]> {
  for (let i = 0; i < 500; i++) {
    const rows: Array<{ trigger: string }> = await h.db.ds.query(
      "SELECT `trigger` FROM gc_runs WHERE state <> 'RUNNING' ORDER BY id",
    );
    if (rows.length >= n) return rows.map((r) => r.trigger);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${n} GC runs finished`);
}

forEachDialect("GC scheduler", (dialect) => {
  let h: SyncHarness;
  let scheduler: GcScheduler | undefined;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
  });
  afterEach(async () => {
    await scheduler?.stop();
    await h.cleanup();
  });

  it("collects a namespace never collected, then again when the queue passes the trigger", async () => {
    const blobs = [];
    for (const seed of ["cfg", "layer-a", "layer-b"]) {
      const bytes = seededBytes(seed, 100);
      blobs.push({ ...(await h.layout.pushBlob(bytes)), mediaType: "application/octet-stream" });
    }
    await h.layout.pushManifest("app/one", "v1", imageManifestBytes({ config: blobs[0]!, layers: blobs.slice(1) }));
    await runSync(h.sync);
    const gc = await collector(h, { defaultGracePeriodMs: 0 });
    const depths: number[] = [];
    scheduler = new GcScheduler(async () => [gc], {
      intervalMs: 3_600_000,
      queueTrigger: 2,
      checkIntervalMs: 10,
      onQueueDepth: (_ns, due) => depths.push(due),
    });
    scheduler.start();
    expect(await finishedRuns(h, 1)).toEqual(["timer"]);
    // Three blobs and a manifest become due: more than the trigger.
    await h.writer.deleteTag("app/one", "v1");
    expect(await finishedRuns(h, 2)).toEqual(["timer", "queue"]);
    expect(Math.max(...depths)).toBe(4);
    for (const b of blobs) expect(await h.store.head(`blobs/sha256/${b.digest.slice(7)}`)).toBeNull();
    await scheduler.stop();
    // Nothing is due any more and the interval has not passed: no third run.
    expect(await gc.due(3_600_000)).toBe(false);
    expect(await gc.dueItems()).toBe(0);
  });
});
