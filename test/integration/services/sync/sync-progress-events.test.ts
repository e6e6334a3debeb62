/**
 * The progress a sync streams ends every phase it shows: the last progress event of each phase
 * has done = total, however fast the phase went (events are throttled to ~10/s, and a phase's
 * last one used to fall inside the throttle: a full sync ended at "commit 0/1", "cleanup 0/9").
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import type { SyncEvent } from "../../../../src/services/sync/sync-types.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { createSyncHarness, runSync, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

/** Each phase shown, with the done/total of its last progress event. */
function lastPerPhase(events: SyncEvent[]): Record<string, string> {
  const last: Record<string, string> = {};
  for (const e of events) if (e.type === "progress") last[e.phase] = `${e.done}/${e.total}`;
  return last;
}

describe("sync progress events", () => {
  let h: SyncHarness;
  beforeEach(async () => {
    h = await createSyncHarness("sqlite", "directory", undefined);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("a first full sync, a full re-sync and an incremental one each end every phase they show", async () => {
    const fixture = await writeRegistryFixture(h.store, { broken: false });
    const tags = fixture.indexable.length;
    const repositories = new Set(fixture.indexable.map((t) => t.repository)).size;

    const first = await runSync(h.sync, { full: true });
    expect(first.finished.state).toBe("SUCCEEDED");
    expect(lastPerPhase(first.events)).toEqual({
      CATALOG: "1/1",
      PLAN: "1/1",
      FETCH: `${tags}/${tags}`,
      COMMIT: `${tags}/${tags}`,
      CLEANUP: `${repositories}/${repositories}`,
    });

    const again = await runSync(h.sync, { full: true });
    for (const [phase, shown] of Object.entries(lastPerPhase(again.events))) {
      const [done, total] = shown.split("/");
      expect(done, `${phase} ended at ${shown}`).toBe(total);
    }
  });
});
