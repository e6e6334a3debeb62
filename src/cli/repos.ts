/** `epoch-meta repos list|get`: repositories through a running server. */
import type { Command } from "commander";
import {
  GetRepositoryResponse,
  ListRepositoriesResponse,
  type ListRepositoriesRequest,
} from "epoch-meta-client/epoch/v1/metadata_service";
import type { Repository } from "epoch-meta-client/epoch/v1/resources";
import { readPages, unaryCall, withMetadataClient } from "./calls.js";
import { addServerOption } from "./client.js";
import { addListFlags, pageSizeOf, type ListFlags } from "./list-flags.js";
import { formatBytes, formatKind, formatTime, printJson, printNextPageHint, printTable } from "./output.js";

export function register(program: Command): void {
  const repos = program.command("repos").description("list and show repositories (through the server)");

  addListFlags(addServerOption(repos.command("list")), 'order: "name" (default), "update_time desc", "total_size desc"')
    .description("list repositories")
    .action(async (flags: ListFlags & { server?: string }) => {
      const result = await withMetadataClient(flags, (client) =>
        readPages(flags.pageToken ?? "", flags.all === true, async (pageToken) => {
          const request: ListRepositoriesRequest = {
            pageSize: pageSizeOf(flags),
            pageToken,
            filter: flags.filter ?? [],
            orderBy: flags.orderBy ?? "",
          };
          const res = await unaryCall<ListRepositoriesResponse>((md, options, cb) =>
            client.listRepositories(request, md, options, cb),
          );
          return { items: res.repositories, nextPageToken: res.nextPageToken };
        }),
      );
      if (flags.json) {
        printJson(ListRepositoriesResponse.toJSON({ repositories: result.items, nextPageToken: result.nextPageToken }));
        return;
      }
      printTable(["NAME", "TAGS", "SIZE", "KIND", "UPDATED"], result.items.map(repositoryRow));
      printNextPageHint(result.nextPageToken);
    });

  addServerOption(repos.command("get"))
    .description("show one repository")
    .argument("<name>", "repository name, e.g. library/app")
    .option("--json", "print the response as JSON")
    .action(async (name: string, flags: { server?: string; json?: boolean }) => {
      const res = await withMetadataClient(flags, (client) =>
        unaryCall<GetRepositoryResponse>((md, options, cb) => client.getRepository({ name }, md, options, cb)),
      );
      if (flags.json) {
        printJson(GetRepositoryResponse.toJSON(res));
        return;
      }
      const r = res.repository;
      if (!r) return;
      printTable(
        ["FIELD", "VALUE"],
        [
          ["name", r.name],
          ["tags", String(r.tagCount)],
          ["size", `${formatBytes(r.totalSize)} (${r.totalSize} bytes)`],
          ["kind", formatKind(r.kind)],
          ["artifact type", r.artifactType || "-"],
          ["created", formatTime(r.createTime)],
          ["updated", formatTime(r.updateTime)],
        ],
      );
    });
}

function repositoryRow(r: Repository): string[] {
  return [r.name, String(r.tagCount), formatBytes(r.totalSize), formatKind(r.kind), formatTime(r.updateTime)];
}
