/**
 * The server's own syncs: one at start, then one per interval after the previous ended, full
 * when no full run is recent enough; interval 0 turns both off. Only setTimeout is faked (the
 * scheduler's timer); the runs themselves are real.
 */
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { SyncScheduler } from "../../../../src/services/sync/sync-scheduler.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { createSyncHarness, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

forEachDialect("sync scheduler", (dialect) => {
  let h: SyncHarness;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    await writeRegistryFixture(h.store, { broken: false });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await h.cleanup();
  });

  const runs = async () =>
    (
      (await h.db.ds.query("SELECT mode, `trigger` AS t FROM sync_runs ORDER BY id")) as Array<{
        mode: string;
        t: string;
      }>
    ).map((r) => `${r.t}:${r.mode}`);

  it("syncs at start, then on the timer, full once the last full run is older than its interval", async () => {
    const scheduler = new SyncScheduler(h.sync, { intervalMs: 30_000, fullIntervalMs: 1 });
    scheduler.start();
    await scheduler.idle();
    expect(await runs()).toEqual(["start:INCREMENTAL"]);
    await vi.advanceTimersByTimeAsync(30_000);
    await scheduler.idle();
    // The first applied run stands for a full one; 1 ms later a full run is due.
    expect(await runs()).toEqual(["start:INCREMENTAL", "timer:FULL"]);
    await scheduler.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await runs()).toHaveLength(2);
  });

  it("never runs a full sync with EPOCH_FULL_SYNC_INTERVAL=0, and nothing at all with EPOCH_SYNC_INTERVAL=0", async () => {
    const scheduler = new SyncScheduler(h.sync, { intervalMs: 1_000, fullIntervalMs: 0 });
    scheduler.start();
    await scheduler.idle();
    await vi.advanceTimersByTimeAsync(1_000);
    await scheduler.idle();
    expect(await runs()).toEqual(["start:INCREMENTAL", "timer:INCREMENTAL"]);
    await scheduler.stop();

    const off = new SyncScheduler(h.replica(), { intervalMs: 0, fullIntervalMs: 1 });
    off.start();
    await vi.advanceTimersByTimeAsync(120_000);
    await off.idle();
    expect(await runs()).toHaveLength(2);
  });

  it("skips a tick while another replica runs a sync", async () => {
    let release!: () => void;
    let arrive!: () => void;
    const reached = new Promise<void>((r) => (arrive = r));
    const opened = new Promise<void>((r) => (release = r));
    h.faults.beforeRequest({ op: "get", keyMatch: "catalog.json", times: 1, fn: async () => (arrive(), await opened) });
    const other = await h.replica().start({ full: false, dryRun: false, allowMassRemoval: false }, "api");
    await reached;
    const scheduler = new SyncScheduler(h.sync, { intervalMs: 1_000, fullIntervalMs: 0 });
    scheduler.start();
    await scheduler.idle();
    expect(await runs()).toEqual(["api:INCREMENTAL"]);
    release();
    await other.done;
    await vi.advanceTimersByTimeAsync(1_000);
    await scheduler.idle();
    expect(await runs()).toEqual(["api:INCREMENTAL", "timer:INCREMENTAL"]);
    await scheduler.stop();
  });
});
