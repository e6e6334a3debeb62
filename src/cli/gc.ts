/**
 * `epoch-meta gc`: runs (or joins) a garbage collection of the namespace on a running server and
 * follows its stream: a progress bar on a terminal and a summary (objects and bytes freed); a dry
 * run lists what it would delete; `--json` prints every event as one JSON line instead.
 * `--status` and `--cancel <run-id>` cover the other two RPCs. Exit status: 0 succeeded,
 * 2 degraded (some deletes failed; the next run retries them), 1 failed or cancelled.
 */
import { Metadata } from "@grpc/grpc-js";
import type { Command } from "commander";
import { errorReasonToJSON } from "epoch-meta-client/epoch/v1/errors";
import {
  GarbageCollectRequest,
  GarbageCollectResponse,
  gcObjectKindToJSON,
  gcPhaseToJSON,
  GetGarbageCollectionStatusResponse,
  type GarbageCollectionServiceClient,
  type GcFinished,
  type GcRun,
} from "epoch-meta-client/epoch/v1/gc_service";
import { SyncState, syncStateToJSON } from "epoch-meta-client/epoch/v1/sync";
import { parseDuration } from "../config.js";
import { SYNC_TRIGGER_METADATA } from "../grpc/metadata-writes.js";
import { unaryCall } from "./calls.js";
import { addServerOption, clientConfigFrom, connect } from "./client.js";
import { formatBytes, formatTime, printJson, printTable } from "./output.js";
import { followRun, jsonLinesView, PhaseBars, type RunView } from "./sync-progress.js";

interface GcFlags {
  server?: string;
  namespace?: string;
  dryRun?: boolean;
  full?: boolean;
  grace?: string;
  json?: boolean;
  status?: boolean;
  cancel?: string;
}

const name = (text: string, prefix: string) => text.replace(prefix, "");

export function register(program: Command): void {
  addServerOption(program.command("gc"))
    .description(
      "collect the namespace's garbage: objects nothing references (exit 0 ok, 2 some deletes failed, 1 failed)",
    )
    .option("--dry-run", "list what would be deleted; delete nothing")
    .option("--full", "also list the registry root for objects the index never saw")
    .option(
      "--grace <duration>",
      "only objects unreferenced and last written longer ago than this (default: EPOCH_GC_GRACE on the server, 24h)",
    )
    .option("--json", "print each event as a JSON line")
    .option("--status", "show the running and the last collection instead of starting one")
    .option("--cancel <run-id>", "stop a running collection (what it marked is still deleted)")
    .action(async (flags: GcFlags) => {
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

async function withGcClient<T>(flags: GcFlags, fn: (client: GarbageCollectionServiceClient) => Promise<T>): Promise<T> {
  const clients = connect(clientConfigFrom(flags));
  try {
    return await fn(clients.gc);
  } finally {
    clients.close();
  }
}

function graceOf(text: string | undefined): { seconds: number; nanos: number } | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text.trim());
  if (ms === undefined)
    throw new Error(`--grace must be a duration such as "1h", "30m" or "0", got ${JSON.stringify(text)}`);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

async function follow(flags: GcFlags): Promise<GcFinished> {
  const grace = graceOf(flags.grace);
  const request = GarbageCollectRequest.fromPartial({
    dryRun: !!flags.dryRun,
    full: !!flags.full,
    ...(grace && { gracePeriod: grace }),
  });
  const metadata = new Metadata();
  metadata.set(SYNC_TRIGGER_METADATA, "cli");
  return withGcClient(flags, async (client) => {
    const stream = client.garbageCollect(request, metadata);
    const view = flags.json
      ? jsonLinesView(GarbageCollectResponse.toJSON)
      : humanView(process.stderr.isTTY === true, !!flags.dryRun);
    return followRun(stream, view, "gc", (r) => (r.event?.$case === "finished" ? r.event.finished : undefined));
  });
}

type View = RunView<GarbageCollectResponse>;

function humanView(tty: boolean, dryRun: boolean): View {
  const bars = new PhaseBars(process.stderr);
  return {
    event(r) {
      const e = r.event;
      if (!e) return;
      if (e.$case === "started") {
        const s = e.started;
        const joined = s.joined ? " (joined the running one)" : "";
        const mode = [s.full ? "full" : "online", ...(s.dryRun ? ["dry run"] : [])].join(", ");
        process.stderr.write(`gc run ${s.runId} (${mode})${joined}\n`);
      } else if (e.$case === "progress" && tty) {
        const p = e.progress;
        // Phases without a known total (the inventory) count up on a full bar.
        bars.progress(name(gcPhaseToJSON(p.phase), "GC_PHASE_").toLowerCase(), p.done, p.total || p.done);
      } else if (e.$case === "deletion" && dryRun) {
        const d = e.deletion;
        bars.stop();
        const kind = name(gcObjectKindToJSON(d.kind), "GC_OBJECT_KIND_").toLowerCase();
        process.stdout.write(`would delete ${kind} ${d.key || d.digest} (${formatBytes(d.size)})\n`);
      } else if (e.$case === "finished") {
        bars.stop();
        printSummary(e.finished, dryRun);
      }
    },
    close: () => bars.stop(),
  };
}

function printSummary(f: GcFinished, dryRun: boolean): void {
  const seconds = f.duration ? f.duration.seconds + f.duration.nanos / 1e9 : 0;
  process.stdout.write(`run ${f.runId}: ${name(syncStateToJSON(f.state), "SYNC_STATE_")} in ${seconds.toFixed(1)}s\n`);
  if (f.errorReason !== 0)
    process.stdout.write(`${name(errorReasonToJSON(f.errorReason), "ERROR_REASON_")}: ${f.message}\n`);
  const freed = dryRun ? "WOULD FREE" : "FREED";
  printTable(
    ["BLOBS", "MANIFESTS", "UPLOADS", "LEASES", freed, "FAILED DELETES", "STORE REQUESTS"],
    [
      [
        ...[f.blobsDeleted, f.manifestsDeleted, f.uploadsDeleted, f.leasesDeleted].map(String),
        formatBytes(f.bytesFreed),
        String(f.deleteFailures),
        String(f.objectStoreRequests),
      ],
    ],
  );
}

async function status(flags: GcFlags): Promise<void> {
  const res = await withGcClient(flags, (client) =>
    unaryCall<GetGarbageCollectionStatusResponse>((md, options, cb) =>
      client.getGarbageCollectionStatus({}, md, options, cb),
    ),
  );
  if (flags.json) return printJson(GetGarbageCollectionStatusResponse.toJSON(res));
  const row = (label: string, r: GcRun | undefined) =>
    r
      ? [
          label,
          String(r.runId),
          name(syncStateToJSON(r.state), "SYNC_STATE_"),
          [r.full ? "full" : "online", ...(r.dryRun ? ["dry"] : [])].join(","),
          r.trigger,
          formatTime(r.startTime),
          formatTime(r.finishTime),
          String(r.blobsDeleted + r.manifestsDeleted + r.uploadsDeleted + r.leasesDeleted),
          formatBytes(r.bytesFreed),
        ]
      : [label, "-", "-", "-", "-", "-", "-", "-", "-"];
  printTable(
    ["RUN", "ID", "STATE", "MODE", "TRIGGER", "STARTED", "FINISHED", "DELETED", "FREED"],
    [row("current", res.current), row("last", res.last)],
  );
}

async function cancel(flags: GcFlags, runId: string): Promise<void> {
  if (!/^\d+$/.test(runId)) throw new Error(`--cancel needs a run id (a number), got ${JSON.stringify(runId)}`);
  await withGcClient(flags, (client) =>
    unaryCall((md, options, cb) => client.cancelGarbageCollection({ runId: Number(runId) }, md, options, cb)),
  );
  process.stdout.write(`cancel requested for run ${runId}\n`);
}
