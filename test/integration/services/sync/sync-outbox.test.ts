/**
 * The sync's side of the event outbox (DESIGN §8.6), on SQLite and MariaDB: every commit
 * transaction writes its events in ONE INSERT (counted in the statement log, transaction by
 * transaction, with the rows it carries), a 1000-tag batch included; `/sync/finished` is written
 * with the run's outcome — for an abandoned run too, by the replica that takes over — and not for
 * a dry run or a timer run that changed nothing; the benchmark's "events off" seam writes none and
 * leaves the same index.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { readEvents, type StoredEvent } from "../../../../src/db/events/event-store.js";
import { writeScaleRegistry } from "../../../../src/demo/demo-registry.js";
import { configureLogger } from "../../../../src/logger.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import {
  createSyncHarness,
  dumpIndex,
  expireSyncLease,
  freshDump,
  runSync,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const EVENT_INSERT = /^INSERT INTO events\b/;
const COLUMNS_PER_EVENT = 6;

/** Per committed transaction of the statement log: how many event rows each of its event INSERTs carried. */
function eventInsertsPerTransaction(statements: string[], parameters: unknown[][]): number[][] {
  const out: number[][] = [];
  let current: number[] | undefined;
  statements.forEach((q, i) => {
    if (/^(START|BEGIN) TRANSACTION/.test(q)) current = [];
    else if (q === "COMMIT" && current) {
      if (current.length > 0) out.push(current);
      current = undefined;
    } else if (EVENT_INSERT.test(q)) (current ?? (current = [])).push(parameters[i]!.length / COLUMNS_PER_EVENT);
  });
  return out;
}

const topics = (events: StoredEvent[]) => events.map((e) => e.topic);
const allEvents = (h: SyncHarness, afterId = 0) => readEvents(h.db, { afterId, limit: 100_000 });

forEachDialect("sync outbox", (dialect) => {
  let h: SyncHarness;
  // One fetch at a time: the spool, and so each batch, holds the tags in catalog order.
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined, { concurrency: 1 });
  });
  afterEach(() => h.cleanup());

  it("a 1000-tag batch writes its 1010 events in one INSERT; deletions and repository removals one per transaction", async () => {
    await writeScaleRegistry(h.store, { tags: 2000, tagsPerRepository: 100 });
    h.statements.reset();
    const first = await runSync(h.sync);
    expect(first.finished.counts).toMatchObject({ tagsAdded: 2000, repositoriesAdded: 20 });
    // Two batches of 1000 tags in 10 new repositories each, then the run's /sync/finished.
    expect(eventInsertsPerTransaction(h.statements.statements, h.statements.parameters)).toEqual([[1010], [1010], [1]]);
    const created = await allEvents(h);
    expect(created).toHaveLength(2021);
    expect(new Set(topics(created))).toEqual(new Set(["/repositories/create", "/tags/create", "/sync/finished"]));

    // 15 repositories leave the catalog: their 1500 tags go in two transactions of 1000 and 500,
    // then the aggregates' transaction removes the 15 repositories.
    await h.layout.updateCatalog((doc) => {
      for (let r = 0; r < 15; r++) doc.repositories.delete(`scale/repo-${r}`);
      return true;
    });
    h.statements.reset();
    await runSync(h.sync, { allowMassRemoval: true });
    expect(eventInsertsPerTransaction(h.statements.statements, h.statements.parameters)).toEqual([
      [1000],
      [500],
      [15],
      [1],
    ]);
    const removed = await allEvents(h, created.at(-1)!.id);
    expect(topics(removed)).toEqual([
      ...Array<string>(1500).fill("/tags/delete"),
      ...Array<string>(15).fill("/repositories/delete"),
      "/sync/finished",
    ]);
  });

  it("writes /sync/finished for a run asked for, a timer run that changed something, and a run taken over; none for a dry run or an idle timer run", async () => {
    const fx = await writeRegistryFixture(h.store);
    const finishedEvents = async (after: number) =>
      (await allEvents(h, after)).filter((e) => e.topic === "/sync/finished");
    const last = async () => (await allEvents(h)).at(-1)?.id ?? 0;

    const dry = await runSync(h.sync, { dryRun: true });
    expect(dry.finished.counts.tagsAdded).toBe(fx.indexable.length);
    expect(await allEvents(h)).toEqual([]);

    const timer = async () =>
      (await h.sync.start({ full: false, dryRun: false, allowMassRemoval: false }, "timer")).done;
    const changed = await timer();
    const [event] = await finishedEvents(0);
    expect(event).toMatchObject({
      topic: "/sync/finished",
      subject: `sync:${changed.runId}`,
      payload: {
        sync: {
          runId: changed.runId,
          state: `SYNC_STATE_${changed.state}`,
          mode: "SYNC_MODE_INCREMENTAL",
          counts: { ...changed.counts },
        },
      },
    });

    let mark = await last();
    await timer();
    expect(await allEvents(h, mark)).toEqual([]);
    const asked = await runSync(h.sync);
    expect((await finishedEvents(mark)).map((e) => e.subject)).toEqual([`sync:${asked.finished.runId}`]);

    // A replica dies mid-run; the one that takes over ends the abandoned run FAILED, with its event.
    mark = await last();
    await h.layout.removeTag("library/alpine", "3.19");
    const crashing = h.replica({
      faultPoints: (p) => {
        if (p === "after-fetch") throw new Error("kill -9");
      },
    });
    const crashed = await crashing.start({ full: false, dryRun: false, allowMassRemoval: false }, "api");
    await expect(crashed.done).rejects.toMatchObject({ name: "SimulatedCrash" });
    await expireSyncLease(h.db);
    const takeover = await runSync(h.replica());
    const ended = await finishedEvents(mark);
    expect(ended.map((e) => [e.subject, (e.payload.sync as { state: string }).state])).toEqual([
      [`sync:${crashed.runId}`, "SYNC_STATE_FAILED"],
      [`sync:${takeover.finished.runId}`, `SYNC_STATE_${takeover.finished.state}`],
    ]);
  });

  it("the benchmark's events-off seam writes no event and leaves the index a run with events builds", async () => {
    await writeRegistryFixture(h.store);
    await runSync(h.replica({ writeEvents: false }));
    expect(await allEvents(h)).toEqual([]);
    expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
  });
});
