/**
 * `epoch-meta sync`: runs (or joins) a catalog sync on a running server and follows its stream:
 * a progress bar on a terminal, the failures and a summary at the end; `--json` prints every
 * event as one JSON line instead. `--status` and `--cancel <run-id>` cover the other two RPCs.
 * Exit status: 0 succeeded, 2 degraded (some tags failed), 1 failed or cancelled.
 */
import { Metadata } from "@grpc/grpc-js";
import type { Command } from "commander";
import { errorReasonToJSON } from "epoch-meta-client/epoch/v1/errors";
import {
  GetSyncStatusResponse,
  SyncFromCatalogRequest,
  SyncFromCatalogResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import {
  syncPhaseToJSON,
  SyncState,
  syncStateToJSON,
  type SyncFinished,
  type SyncRun,
  type TagFailure,
} from "epoch-meta-client/epoch/v1/sync";
import { SYNC_TRIGGER_METADATA } from "../grpc/metadata-writes.js";
import { unaryCall, withMetadataClient } from "./calls.js";
import { addServerOption } from "./client.js";
import { followRun, jsonLinesView, PhaseBars, type RunView } from "./sync-progress.js";
import { formatTime, printJson, printTable } from "./output.js";

interface SyncFlags {
  server?: string;
  full?: boolean;
  dryRun?: boolean;
  allowMassRemoval?: boolean;
  json?: boolean;
  status?: boolean;
  cancel?: string;
}

const name = (text: string, prefix: string) => text.replace(prefix, "");

export function register(program: Command): void {
  addServerOption(program.command("sync"))
    .description("sync the index from the registry's catalog.json and follow the run (exit 0 ok, 2 degraded, 1 failed)")
    .option("--full", "ignore every incremental shortcut (re-read every tag)")
    .option("--dry-run", "compute and show the plan and counts; write nothing")
    .option("--allow-mass-removal", "apply a plan that removes more than half of the indexed tags")
    .option("--json", "print each event as a JSON line")
    .option("--status", "show the running and the last run instead of starting one")
    .option("--cancel <run-id>", "cancel a run that has not started writing")
    .action(async (flags: SyncFlags) => {
      if (flags.cancel !== undefined) return cancel(flags, flags.cancel);
      if (flags.status) return status(flags);
      const finished = await follow(flags);
      process.exitCode =
        finished.state === SyncState.SYNC_STATE_SUCCEEDED
          ? 0
          : finished.state === SyncState.SYNC_STATE_DEGRADED
            ? 2
            : 1;
    });
}

async function follow(flags: SyncFlags): Promise<SyncFinished> {
  const request = SyncFromCatalogRequest.fromPartial({
    full: !!flags.full,
    dryRun: !!flags.dryRun,
    allowMassRemoval: !!flags.allowMassRemoval,
  });
  const metadata = new Metadata();
  metadata.set(SYNC_TRIGGER_METADATA, "cli");
  return withMetadataClient(flags, async (client) => {
    const stream = client.syncFromCatalog(request, metadata);
    const view = flags.json ? jsonLinesView(SyncFromCatalogResponse.toJSON) : humanView(process.stderr.isTTY === true);
    return followRun(stream, view, "sync", (r) => (r.event?.$case === "finished" ? r.event.finished : undefined));
  });
}

type View = RunView<SyncFromCatalogResponse>;

function humanView(tty: boolean): View {
  const failures: TagFailure[] = [];
  const bars = new PhaseBars(process.stderr);
  return {
    event(r) {
      const e = r.event;
      if (!e) return;
      if (e.$case === "started") {
        const joined = e.started.joined ? " (joined the running one)" : "";
        process.stderr.write(`sync run ${e.started.runId}${e.started.dryRun ? ", dry run" : ""}${joined}\n`);
      } else if (e.$case === "progress" && tty) {
        const phase = name(syncPhaseToJSON(e.progress.phase), "SYNC_PHASE_").toLowerCase();
        bars.progress(phase, e.progress.done, e.progress.total);
      } else if (e.$case === "failure") {
        failures.push(e.failure);
      } else if (e.$case === "finished") {
        bars.stop();
        printSummary(e.finished, failures);
      }
    },
    close: () => bars.stop(),
  };
}

function printSummary(f: SyncFinished, failures: TagFailure[]): void {
  const c = f.counts;
  const seconds = f.duration ? f.duration.seconds + f.duration.nanos / 1e9 : 0;
  process.stdout.write(`run ${f.runId}: ${name(syncStateToJSON(f.state), "SYNC_STATE_")} in ${seconds.toFixed(1)}s\n`);
  if (f.errorReason !== 0)
    process.stdout.write(`${name(errorReasonToJSON(f.errorReason), "ERROR_REASON_")}: ${f.message}\n`);
  else if (f.message) process.stdout.write(`${f.message}\n`);
  if (c) {
    printTable(
      ["REPOSITORIES +/-", "TAGS ADDED", "UPDATED", "UNCHANGED", "REMOVED", "FAILED", "STORE REQUESTS"],
      [
        [
          `+${c.repositoriesAdded}/-${c.repositoriesRemoved}`,
          ...[c.tagsAdded, c.tagsUpdated, c.tagsUnchanged, c.tagsRemoved, c.tagsFailed, c.objectStoreRequests].map(
            String,
          ),
        ],
      ],
    );
  }
  if (failures.length === 0) return;
  process.stdout.write("\n");
  printTable(
    ["REPOSITORY", "TAG", "REASON", "MESSAGE"],
    failures.map((t) => [t.repository, t.tag, name(errorReasonToJSON(t.reason), "ERROR_REASON_"), t.message]),
  );
}

async function status(flags: SyncFlags): Promise<void> {
  const res = await withMetadataClient(flags, (client) =>
    unaryCall<GetSyncStatusResponse>((md, options, cb) => client.getSyncStatus({}, md, options, cb)),
  );
  if (flags.json) return printJson(GetSyncStatusResponse.toJSON(res));
  const row = (label: string, r: SyncRun | undefined) =>
    r
      ? [
          label,
          String(r.runId),
          name(syncStateToJSON(r.state), "SYNC_STATE_"),
          r.trigger,
          formatTime(r.startTime),
          formatTime(r.finishTime),
          String(r.failureCount),
        ]
      : [label, "-", "-", "-", "-", "-", "-"];
  printTable(
    ["RUN", "ID", "STATE", "TRIGGER", "STARTED", "FINISHED", "FAILURES"],
    [row("current", res.current), row("last", res.last)],
  );
}

async function cancel(flags: SyncFlags, runId: string): Promise<void> {
  if (!/^\d+$/.test(runId)) throw new Error(`--cancel needs a run id (a number), got ${JSON.stringify(runId)}`);
  await withMetadataClient(flags, (client) =>
    unaryCall((md, options, cb) => client.cancelSync({ runId: Number(runId) }, md, options, cb)),
  );
  process.stdout.write(`cancel requested for run ${runId}\n`);
}
