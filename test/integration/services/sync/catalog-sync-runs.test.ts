/**
 * A sync run's life (DESIGN §4 step 5 and the stream rules), on SQLite and MariaDB: single
 * flight, joining on one server, ABORTED from another replica or with other flags, CancelSync
 * (same or other replica; refused once committing), shutdown, a lost lease, takeover of an
 * abandoned run, dry runs, status, and exactly one `finished` whatever happens. Runs are held at
 * a chosen point by gates (a promise the test opens), never by timing.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { SyncRunStore } from "../../../../src/db/sync-runs/sync-run-store.js";
import type { SyncEvent, SyncFlags } from "../../../../src/services/sync/sync-types.js";
import { writeRegistryFixture, type RegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { rejection } from "../../../helpers/errors.js";
import {
  createSyncHarness,
  dumpIndex,
  expireSyncLease,
  indexWrites,
  INCREMENTAL,
  runSync,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

interface Gate {
  /** Resolves when the run reached the gate. */
  reached: Promise<void>;
  open(): void;
  /** For hooks: wait at the gate. */
  wait(): Promise<void>;
}

function gate(): Gate {
  let open!: () => void;
  let arrive!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (arrive = r));
  return {
    reached,
    open,
    wait: async () => {
      arrive();
      await opened;
    },
  };
}

/** Holds the first manifest GET of the next run (the fetch phase) until the gate opens. */
function holdFetch(h: SyncHarness): Gate {
  const g = gate();
  h.faults.beforeRequest({ op: "get", keyMatch: /^manifests\//, times: 1, fn: g.wait });
  return g;
}

async function collect(events: AsyncIterable<SyncEvent>): Promise<SyncEvent[]> {
  const out: SyncEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const finishedOf = (events: SyncEvent[]) => {
  const finished = events.filter((e) => e.type === "finished");
  expect(finished).toHaveLength(1);
  expect(events.at(-1)?.type).toBe("finished");
  return finished[0]!.type === "finished" ? finished[0]!.finished : undefined!;
};

forEachDialect("sync runs", (dialect) => {
  let h: SyncHarness;
  let fx: RegistryFixture;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    fx = await writeRegistryFixture(h.store);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("joins a second call on the same server and refuses other flags and other replicas", async () => {
    const g = holdFetch(h);
    const first = await h.sync.start(INCREMENTAL, "api");
    const firstEvents = collect(first.events());
    await g.reached;

    const second = await h.sync.start(INCREMENTAL, "api");
    expect(second).toMatchObject({ runId: first.runId, joined: true });
    const secondEvents = collect(second.events());
    const detached = new AbortController();
    const third = (await h.sync.start(INCREMENTAL, "cli")).events(detached.signal);
    expect((await third.next()).value).toMatchObject({ type: "started", joined: true });

    const other: SyncFlags = { ...INCREMENTAL, full: true };
    // Both refusals name the running run.
    const running = new RegExp(`\\(run ${first.runId}[;)]`);
    expect(await rejection(h.sync.start(other, "api"))).toMatchObject({
      kind: "aborted",
      reason: "SYNC_IN_PROGRESS",
      message: expect.stringMatching(running),
    });
    expect(await rejection(h.replica().start(INCREMENTAL, "api"))).toMatchObject({
      kind: "aborted",
      reason: "SYNC_IN_PROGRESS",
      message: expect.stringMatching(running),
    });
    // A caller that goes away only detaches.
    detached.abort();
    expect((await third.next()).done).toBe(true);

    g.open();
    const a = await firstEvents;
    const b = await secondEvents;
    expect(a[0]).toMatchObject({
      type: "started",
      runId: first.runId,
      joined: false,
      mode: "INCREMENTAL",
      dryRun: false,
    });
    expect(b[0]).toMatchObject({ type: "started", runId: first.runId, joined: true });
    // The joiner got the failures sent before it joined (invalid names, found while planning), then the rest live.
    const failures = (events: SyncEvent[]) => events.filter((e) => e.type === "failure").map((e) => JSON.stringify(e));
    expect(failures(b).sort()).toEqual(failures(a).sort());
    expect(failures(b)).toHaveLength(fx.failures.length);
    expect(finishedOf(b)).toEqual(finishedOf(a));
    expect(finishedOf(a)).toMatchObject({ state: "DEGRADED", counts: { tagsAdded: fx.indexable.length } });

    const phases = a.flatMap((e) => (e.type === "progress" ? [e.phase] : []));
    expect([...new Set(phases)]).toEqual(["CATALOG", "PLAN", "FETCH", "COMMIT", "CLEANUP"]);
    expect((await h.sync.status()).last).toMatchObject({
      runId: first.runId,
      state: "DEGRADED",
      failureCount: fx.failures.length,
      holder: h.sync.holder,
    });
  });

  it("cancels before the commit phase with no writes, from this replica or another", async () => {
    for (const canceller of [() => h.sync, () => h.replica()]) {
      const g = holdFetch(h);
      h.statements.reset();
      const run = await h.sync.start(INCREMENTAL, "api");
      const events = collect(run.events());
      await g.reached;
      expect((await h.sync.status()).current).toMatchObject({ runId: run.runId, state: "RUNNING" });
      await canceller().cancel(run.runId);
      g.open();
      expect(finishedOf(await events)).toMatchObject({ state: "CANCELLED", errorReason: "CANCELLED" });
      expect(indexWrites(h.statements)).toEqual([]);
      expect(await rejection(h.sync.cancel(run.runId))).toMatchObject({
        kind: "failed_precondition",
        reason: "SYNC_FINISHED",
      });
    }
    expect(await rejection(h.sync.cancel(424242))).toMatchObject({ kind: "not_found", reason: "SYNC_RUN_NOT_FOUND" });
    expect((await dumpIndex(h.db)).tags).toEqual([]);
  });

  it("refuses to cancel a run that is writing, and finishes it", async () => {
    const g = gate();
    const sync = h.replica({
      commitBatchSize: 2,
      faultPoints: (p) => (p === "after-first-commit-batch" ? g.wait() : undefined),
    });
    const run = await sync.start(INCREMENTAL, "api");
    const events = collect(run.events());
    await g.reached;
    expect(await rejection(h.replica().cancel(run.runId))).toMatchObject({
      kind: "failed_precondition",
      reason: "SYNC_COMMITTING",
    });
    g.open();
    expect(finishedOf(await events)).toMatchObject({ state: "DEGRADED", counts: { tagsAdded: fx.indexable.length } });
  });

  it("stops at shutdown before writing and refuses new runs", async () => {
    const g = holdFetch(h);
    h.statements.reset();
    const run = await h.sync.start(INCREMENTAL, "timer");
    const events = collect(run.events());
    await g.reached;
    const stopped = h.sync.shutdown();
    g.open();
    await stopped;
    expect(finishedOf(await events)).toMatchObject({ state: "CANCELLED", errorReason: "SHUTTING_DOWN" });
    expect(indexWrites(h.statements)).toEqual([]);
    expect(await rejection(h.sync.start(INCREMENTAL, "api"))).toMatchObject({
      kind: "unavailable",
      reason: "SHUTTING_DOWN",
    });
  });

  it("writes nothing after losing the lease", async () => {
    const g = holdFetch(h);
    h.statements.reset();
    const run = await h.sync.start(INCREMENTAL, "api");
    const events = collect(run.events());
    await g.reached;
    // Another replica takes over (as it would once the TTL ran out while this one was paused).
    await h.db.ds.query("UPDATE coordination SET holder = 'thief', value = 0 WHERE name = 'sync'");
    g.open();
    expect(finishedOf(await events)).toMatchObject({ state: "FAILED", errorReason: "LEASE_LOST" });
    expect(indexWrites(h.statements)).toEqual([]);
  });

  it("refuses another replica while the owner is between taking the lease and recording its run, never naming run 0", async () => {
    const g = gate();
    const owner = h.replica({ faultPoints: (p) => (p === "lease-taken" ? g.wait() : undefined) });
    const started = owner.start(INCREMENTAL, "api");
    await g.reached;
    const refused = await rejection(h.replica().start(INCREMENTAL, "api"));
    expect(refused).toMatchObject({ kind: "aborted", reason: "SYNC_IN_PROGRESS" });
    expect((refused as Error).message).toMatch(/its run is being recorded; holder \S+/);
    expect((refused as Error).message).not.toMatch(/run 0/);
    g.open();
    const run = await started;
    expect(await rejection(h.replica().start(INCREMENTAL, "api"))).toMatchObject({
      message: expect.stringContaining(`(run ${run.runId};`),
    });
    expect((await run.done).state).toBe("DEGRADED");
  });

  it("takes over an abandoned run once its lease expired, and the next run repairs the index", async () => {
    const crashing = h.replica({
      faultPoints: (p) => {
        if (p === "after-fetch") throw new Error("kill -9");
      },
    });
    const run = await crashing.start(INCREMENTAL, "api");
    await expect(run.done).rejects.toMatchObject({ name: "SimulatedCrash" });
    const next = h.replica();
    expect(await rejection(next.start(INCREMENTAL, "api"))).toMatchObject({ reason: "SYNC_IN_PROGRESS" });
    await expireSyncLease(h.db);
    const { finished } = await runSync(next);
    expect(finished).toMatchObject({ state: "DEGRADED", counts: { tagsAdded: fx.indexable.length } });
    const abandoned = await new SyncRunStore(h.db, 1).get(run.runId);
    expect(abandoned).toMatchObject({ state: "FAILED", errorReason: "LEASE_LOST" });
  });

  it("reports in a dry run the counts the real run then has, and writes nothing", async () => {
    h.statements.reset();
    const dry = await runSync(h.sync, { dryRun: true });
    expect(dry.events[0]).toMatchObject({ type: "started", dryRun: true });
    expect(indexWrites(h.statements)).toEqual([]);
    expect((await dumpIndex(h.db)).tags).toEqual([]);
    const real = await runSync(h.sync);
    expect(dry.finished.counts).toEqual(real.finished.counts);
    expect(dry.finished.state).toBe(real.finished.state);

    // After a change too (a dry run never stores the catalog it read, so both read it).
    await h.layout.removeTag("library/alpine", "3.19");
    await h.layout.removeTag("team/app/api", "v1");
    await h.layout.removeTag("team/app/api", "v2");
    const dry2 = await runSync(h.sync, { dryRun: true });
    const real2 = await runSync(h.sync);
    expect(dry2.finished.counts).toEqual(real2.finished.counts);
    expect(real2.finished.counts).toMatchObject({ tagsRemoved: 3, repositoriesRemoved: 1 });
  });

  it("ends the stream with exactly one finished when the database fails mid-run", async () => {
    const sync = h.replica({
      faultPoints: async (p) => {
        if (p === "after-fetch") await h.db.ds.query("ALTER TABLE manifest_children RENAME TO manifest_children_gone");
      },
    });
    const { events, finished } = await runSync(sync);
    finishedOf(events);
    expect(finished).toMatchObject({
      state: "FAILED",
      errorReason: "INTERNAL",
      message: "internal error during the sync",
    });
    await h.db.ds.query("ALTER TABLE manifest_children_gone RENAME TO manifest_children");
    expect((await runSync(h.sync)).finished.state).toBe("DEGRADED");
  });
});
