/**
 * The sync timer over every namespace: each round asks for the current set of sync services,
 * runs at most `concurrency` of them at once, and a namespace whose sync fails (its root is
 * unreachable, its lease is held elsewhere) is logged while the others still run.
 */
import { describe, expect, it } from "vitest";
import { aborted } from "../../../../src/errors.js";
import { configureLogger } from "../../../../src/logger.js";
import { SyncScheduler } from "../../../../src/services/sync/sync-scheduler.js";
import type { SyncService } from "../../../../src/services/sync/sync-service.js";

configureLogger("silent");

function fakeSync(
  namespace: string,
  gate: { running: number; peak: number },
  fail?: Error,
): SyncService & { runs: number } {
  const fake = {
    namespace,
    runs: 0,
    fullSyncDue: async () => false,
    start: async () => {
      if (fail) throw fail;
      fake.runs++;
      gate.running++;
      gate.peak = Math.max(gate.peak, gate.running);
      const done = new Promise((resolve) => setTimeout(resolve, 5)).then(() => {
        gate.running--;
        return {};
      });
      return { runId: fake.runs, joined: false, events: () => undefined, done };
    },
  };
  return fake as unknown as SyncService & { runs: number };
}

describe("SyncScheduler over namespaces", () => {
  it("syncs every namespace, a few at a time, and one failing root never stops the others", async () => {
    const gate = { running: 0, peak: 0 };
    const services = [
      fakeSync("a", gate),
      fakeSync("broken", gate, new Error("storage unreachable")),
      fakeSync("held", gate, aborted("a sync is running on another replica", "SYNC_IN_PROGRESS")),
      ...["b", "c", "d", "e", "f"].map((n) => fakeSync(n, gate)),
    ];
    let rounds = 0;
    const scheduler = new SyncScheduler(
      async () => {
        rounds++;
        return services;
      },
      { intervalMs: 60_000, fullIntervalMs: 0, concurrency: 2 },
    );
    scheduler.start();
    await scheduler.idle();
    await scheduler.stop();
    expect(rounds).toBe(1);
    expect(services.map((s) => s.runs)).toEqual([1, 0, 0, 1, 1, 1, 1, 1]);
    expect(gate.peak).toBe(2);
  });

  it("goes on to the next round when the namespaces cannot be listed", async () => {
    let calls = 0;
    const scheduler = new SyncScheduler(
      async () => {
        calls++;
        throw new Error("database unreachable");
      },
      { intervalMs: 60_000, fullIntervalMs: 0 },
    );
    scheduler.start();
    await scheduler.idle();
    await scheduler.stop();
    expect(calls).toBe(1);
  });
});
