/**
 * A run's end is logged at a level an operator can alert on: FAILED at error, DEGRADED at warn,
 * SUCCEEDED at info, and a timer run that changed nothing at debug (start and end).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SyncTrigger } from "../../../../src/services/sync/sync-types.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { captureLogs, type LogCapture } from "../../../helpers/log-capture.js";
import { createSyncHarness, INCREMENTAL, type SyncHarness } from "../../../helpers/sync-harness.js";

describe("sync log levels", () => {
  let h: SyncHarness;
  let logs: LogCapture;
  beforeEach(async () => {
    h = await createSyncHarness("sqlite", "directory", undefined);
    logs = captureLogs();
  });
  afterEach(async () => {
    logs.restore();
    await h.cleanup();
  });

  /** Runs one sync and returns the levels of its "sync started" and "sync finished" lines. */
  const levelsOf = async (trigger: SyncTrigger) => {
    const before = logs.lines().length;
    const ticket = await h.sync.start(INCREMENTAL, trigger);
    const finished = await ticket.done;
    const lines = logs.lines().slice(before);
    const level = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.level);
    return { state: finished.state, started: level("sync started"), finished: level("sync finished") };
  };

  it("logs a degraded run at warn, a failed one at error, a successful one at info", async () => {
    await writeRegistryFixture(h.store, { broken: true });
    expect(await levelsOf("api")).toEqual({ state: "DEGRADED", started: ["info"], finished: ["warn"] });

    await h.store.delete("catalog.json");
    expect(await levelsOf("timer")).toEqual({ state: "FAILED", started: ["debug"], finished: ["error"] });
    const failed = logs.lines().find((l) => l.msg === "sync finished" && l.level === "error");
    expect(failed).toMatchObject({ reason: "CATALOG_MISSING", trigger: "timer" });
  });

  it("logs an idle timer run at debug, and a timer run that changed something at info", async () => {
    await writeRegistryFixture(h.store, { broken: false });
    expect(await levelsOf("timer")).toEqual({ state: "SUCCEEDED", started: ["debug"], finished: ["info"] });
    expect(await levelsOf("timer")).toEqual({ state: "SUCCEEDED", started: ["debug"], finished: ["debug"] });
    // Asked for by a person, a run that changed nothing is still worth a line.
    expect(await levelsOf("cli")).toEqual({ state: "SUCCEEDED", started: ["info"], finished: ["info"] });
  });
});
