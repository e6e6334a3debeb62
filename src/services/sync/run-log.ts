/**
 * The log lines of a run's start and end, at a level an operator can alert on: a FAILED run is
 * an error, a DEGRADED one a warning, and a timer run that found nothing to change is debug
 * (every 30 s at info it would bury everything else).
 */
import { logger } from "../../logger.js";
import { modeOf, type SyncFinished, type SyncFlags, type SyncTrigger } from "./sync-types.js";

export function logRunStarted(runId: number, trigger: SyncTrigger, flags: SyncFlags): void {
  // A timer run says nothing at start: its end line carries the trigger, and it is the one that matters.
  const level = trigger === "timer" ? "debug" : "info";
  logger[level]({ runId, trigger, mode: modeOf(flags), dryRun: flags.dryRun }, "sync started");
}

export function logRunFinished(finished: SyncFinished, trigger: SyncTrigger): void {
  logger[finishedLevel(finished, trigger)](
    {
      runId: finished.runId,
      trigger,
      state: finished.state,
      counts: finished.counts,
      durationMs: finished.durationMs,
      reason: finished.errorReason,
      ...(finished.state !== "SUCCEEDED" && { message: finished.message }),
    },
    "sync finished",
  );
}

export function finishedLevel(finished: SyncFinished, trigger: SyncTrigger): "error" | "warn" | "info" | "debug" {
  if (finished.state === "FAILED") return "error";
  if (finished.state === "DEGRADED") return "warn";
  if (trigger === "timer" && finished.state === "SUCCEEDED" && changedNothing(finished.counts)) return "debug";
  return "info";
}

function changedNothing(c: SyncFinished["counts"]): boolean {
  return c.tagsAdded + c.tagsUpdated + c.tagsRemoved + c.repositoriesAdded + c.repositoriesRemoved === 0;
}
