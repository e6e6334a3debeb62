/** `epoch-meta stats`: the registry's maintained totals, through a running server. */
import type { Command } from "commander";
import { GetStatsResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import { unaryCall, withMetadataClient } from "./calls.js";
import { addServerOption } from "./client.js";
import { formatBytes, formatKind, formatTime, printJson, printTable } from "./output.js";

export function register(program: Command): void {
  addServerOption(program.command("stats"))
    .description("show repository, tag and blob totals")
    .option("--json", "print the response as JSON")
    .action(async (flags: { server?: string; json?: boolean }) => {
      const stats = await withMetadataClient(flags, (client) =>
        unaryCall<GetStatsResponse>((md, options, cb) => client.getStats({}, md, options, cb)),
      );
      if (flags.json) {
        printJson(GetStatsResponse.toJSON(stats));
        return;
      }
      printTable(
        ["TOTAL", "VALUE"],
        [
          ["repositories", String(stats.repositoryCount)],
          ["tags", String(stats.tagCount)],
          ["blobs", String(stats.blobCount)],
          ["blob bytes", `${formatBytes(stats.totalSize)} (${stats.totalSize} bytes)`],
          ["last sync", formatTime(stats.lastSyncTime)],
        ],
      );
      if (stats.kinds.length === 0) return;
      process.stdout.write("\n");
      printTable(
        ["KIND", "TAGS"],
        stats.kinds.map((k) => [formatKind(k.kind), String(k.tagCount)]),
      );
    });
}
