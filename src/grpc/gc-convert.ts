/** Garbage-collection domain values → proto messages (enums by name, durations, counts). */
import {
  GcObjectKind,
  GcPhase,
  type GarbageCollectResponse,
  type GcRun,
  type GetGarbageCollectionStatusResponse,
} from "epoch-meta-client/epoch/v1/gc_service";
import { SyncState } from "epoch-meta-client/epoch/v1/sync";
import type { GcRunRecord } from "../db/gc/gc-run-store.js";
import type { GcStatus } from "../services/gc/gc-service.js";
import type * as domain from "../services/gc/gc-types.js";
import { durationToProto, reasonToProto } from "./sync-convert.js";

const stateToProto = (s: domain.GcState): SyncState => SyncState[`SYNC_STATE_${s}`];
const phaseToProto = (p: domain.GcPhase): GcPhase => GcPhase[`GC_PHASE_${p}`];
const kindToProto = (k: domain.GcObjectKind): GcObjectKind => GcObjectKind[`GC_OBJECT_KIND_${k}`];

/** A proto Duration as milliseconds (negative or above 2^53 ms is the caller's to refuse). */
export function durationToMs(d: { seconds: number; nanos: number }): number {
  return d.seconds * 1000 + Math.floor(d.nanos / 1_000_000);
}

const countFields = (c: domain.GcCounts) => ({
  blobsDeleted: c.blobsDeleted,
  manifestsDeleted: c.manifestsDeleted,
  uploadsDeleted: c.uploadsDeleted,
  leasesDeleted: c.leasesDeleted,
  bytesFreed: c.bytesFreed,
  objectStoreRequests: c.objectStoreRequests,
  candidates: c.candidates,
  deleteFailures: c.deleteFailures,
});

export function gcEventToProto(e: domain.GcEvent): GarbageCollectResponse {
  switch (e.type) {
    case "started":
      return {
        event: {
          $case: "started",
          started: {
            runId: e.runId,
            joined: e.joined,
            dryRun: e.flags.dryRun,
            full: e.flags.full,
            gracePeriod: durationToProto(e.flags.gracePeriodMs),
          },
        },
      };
    case "progress":
      return { event: { $case: "progress", progress: { phase: phaseToProto(e.phase), done: e.done, total: e.total } } };
    case "deletion": {
      const d = e.deletion;
      return {
        event: {
          $case: "deletion",
          deletion: { kind: kindToProto(d.kind), key: d.key, digest: d.digest, size: d.size },
        },
      };
    }
    case "finished": {
      const f = e.finished;
      return {
        event: {
          $case: "finished",
          finished: {
            runId: f.runId,
            state: stateToProto(f.state),
            ...countFields(f.counts),
            duration: durationToProto(f.durationMs),
            errorReason: reasonToProto(f.errorReason),
            message: f.message,
            syncRunId: f.syncRunId,
          },
        },
      };
    }
  }
}

export function gcRunToProto(r: GcRunRecord): GcRun {
  return {
    runId: r.runId,
    state: stateToProto(r.state),
    dryRun: r.flags.dryRun,
    full: r.flags.full,
    gracePeriod: durationToProto(r.flags.gracePeriodMs),
    trigger: r.trigger,
    startTime: r.startedAt,
    finishTime: r.finishedAt ?? undefined,
    ...countFields(r.counts),
    errorReason: reasonToProto(r.errorReason),
    message: r.message,
    syncRunId: r.syncRunId,
    holder: r.holder,
  };
}

export function gcStatusToProto(s: GcStatus): GetGarbageCollectionStatusResponse {
  return { current: s.current && gcRunToProto(s.current), last: s.last && gcRunToProto(s.last) };
}
