/** A run's event fan-out: throttled progress, joiners' replay, coalescing, detaching. */
import { describe, expect, it } from "vitest";
import { SyncEventHub } from "../../../../src/services/sync/sync-events.js";
import { zeroCounts, type SyncEvent } from "../../../../src/services/sync/sync-types.js";

const failure = (tag: string) => ({ repository: "a/b", tag, reason: "MANIFEST_MISSING" as const, message: "gone" });
const finished = { runId: 7, state: "DEGRADED" as const, counts: zeroCounts(), durationMs: 5, message: "" };

async function drain(it: AsyncGenerator<SyncEvent>): Promise<SyncEvent[]> {
  const out: SyncEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe("SyncEventHub", () => {
  it("sends at most one progress event per 100 ms within a phase, and one at each phase change", async () => {
    let now = 0;
    const hub = new SyncEventHub(7, "INCREMENTAL", false, () => now);
    const events = drain(hub.subscribe(false));
    hub.progress("FETCH", 0, 100, true);
    for (let i = 1; i <= 50; i++) {
      now += 10;
      hub.progress("FETCH", i, 100);
      await Promise.resolve();
    }
    hub.progress("COMMIT", 0, 10);
    hub.finish(finished);
    const progress = (await events).filter((e) => e.type === "progress");
    // 500 ms of FETCH: the first, then one per 100 ms; COMMIT comes at once.
    expect(progress.map((e) => (e.type === "progress" ? `${e.phase}:${e.done}` : ""))).toEqual([
      "FETCH:0",
      "FETCH:10",
      "FETCH:20",
      "FETCH:30",
      "FETCH:40",
      "FETCH:50",
      "COMMIT:0",
    ]);
  });

  it("gives a joiner started{joined}, the failures so far, then live events and one finished", async () => {
    const hub = new SyncEventHub(7, "FULL", true);
    hub.failure(failure("x"));
    const joiner = hub.subscribe(true);
    const events = drain(joiner);
    hub.failure(failure("y"));
    hub.finish(finished);
    hub.finish({ ...finished, state: "FAILED" });
    expect(await events).toEqual([
      { type: "started", runId: 7, mode: "FULL", dryRun: true, joined: true },
      { type: "failure", failure: failure("x") },
      { type: "failure", failure: failure("y") },
      { type: "finished", finished },
    ]);
    // A caller arriving after the end still gets a complete stream.
    expect((await drain(hub.subscribe(true))).map((e) => e.type)).toEqual([
      "started",
      "failure",
      "failure",
      "finished",
    ]);
  });

  it("coalesces progress for a subscriber that is behind, and lets a caller detach", async () => {
    let now = 0;
    const hub = new SyncEventHub(1, "INCREMENTAL", false, () => now);
    const controller = new AbortController();
    const slow = hub.subscribe(false, controller.signal);
    for (let i = 0; i < 10; i++) {
      now += 1000;
      hub.progress("FETCH", i, 10);
    }
    hub.failure(failure("z"));
    expect((await slow.next()).value).toMatchObject({ type: "started" });
    expect((await slow.next()).value).toMatchObject({ type: "progress", done: 9 });
    expect((await slow.next()).value).toMatchObject({ type: "failure" });
    controller.abort();
    expect((await slow.next()).done).toBe(true);
  });
});
