/** Sync domain values → proto messages (enums by name, durations, counts). */
import { ErrorReason } from "epoch-meta-client/epoch/v1/errors";
import type { GetSyncStatusResponse, SyncFromCatalogResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import {
  SyncMode,
  SyncPhase,
  SyncState,
  type SyncCounts,
  type SyncRun,
  type TagFailure,
} from "epoch-meta-client/epoch/v1/sync";
import type { ErrorReason as DomainReason } from "../errors.js";
import type { SyncRunRecord } from "../db/sync-runs/sync-run-store.js";
import type { SyncStatus } from "../services/sync/sync-service.js";
import type * as domain from "../services/sync/sync-types.js";

export function reasonToProto(reason: DomainReason | undefined): ErrorReason {
  if (reason === undefined) return ErrorReason.ERROR_REASON_UNSPECIFIED;
  return ErrorReason[`ERROR_REASON_${reason}` as keyof typeof ErrorReason] ?? ErrorReason.ERROR_REASON_INTERNAL;
}

const stateToProto = (s: domain.SyncState): SyncState => SyncState[`SYNC_STATE_${s}`];
const modeToProto = (m: domain.SyncMode): SyncMode => SyncMode[`SYNC_MODE_${m}`];
const phaseToProto = (p: domain.SyncPhase): SyncPhase => SyncPhase[`SYNC_PHASE_${p}`];

export const countsToProto = (c: domain.SyncCounts): SyncCounts => ({ ...c });

export function failureToProto(f: domain.TagFailure): TagFailure {
  return { repository: f.repository, tag: f.tag, reason: reasonToProto(f.reason), message: f.message };
}

export function durationToProto(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function eventToProto(e: domain.SyncEvent): SyncFromCatalogResponse {
  switch (e.type) {
    case "started":
      return {
        event: {
          $case: "started",
          started: { runId: e.runId, mode: modeToProto(e.mode), joined: e.joined, dryRun: e.dryRun },
        },
      };
    case "progress":
      return { event: { $case: "progress", progress: { phase: phaseToProto(e.phase), done: e.done, total: e.total } } };
    case "failure":
      return { event: { $case: "failure", failure: failureToProto(e.failure) } };
    case "finished": {
      const f = e.finished;
      return {
        event: {
          $case: "finished",
          finished: {
            runId: f.runId,
            state: stateToProto(f.state),
            counts: countsToProto(f.counts),
            duration: durationToProto(f.durationMs),
            errorReason: reasonToProto(f.errorReason),
            message: f.message,
          },
        },
      };
    }
  }
}

export function runToProto(r: SyncRunRecord): SyncRun {
  return {
    runId: r.runId,
    state: stateToProto(r.state),
    mode: modeToProto(r.mode),
    trigger: r.trigger,
    startTime: r.startedAt,
    finishTime: r.finishedAt ?? undefined,
    counts: countsToProto(r.counts),
    errorReason: reasonToProto(r.errorReason),
    message: r.message,
    failures: r.failures.map(failureToProto),
    failureCount: r.failureCount,
    dryRun: r.dryRun,
    holder: r.holder,
  };
}

export function statusToProto(s: SyncStatus): GetSyncStatusResponse {
  return { current: s.current && runToProto(s.current), last: s.last && runToProto(s.last) };
}
