/** `epoch-meta repos list|get`: repositories through a running server. */
import type { Command } from "commander";
import {
  GetRepositoryResponse,
  ListRepositoriesResponse,
  UpdateRepositoryResponse,
  type ListRepositoriesRequest,
} from "epoch-meta-client/epoch/v1/metadata_service";
import type { Repository } from "epoch-meta-client/epoch/v1/resources";
import { readPages, unaryCall, withMetadataClient } from "./calls.js";
import { addServerOption } from "./client.js";
import { formatLabels, parseLabelArgs } from "./labels.js";
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
          ["labels", formatLabels(r.labels)],
        ],
      );
    });

  addServerOption(repos.command("label"))
    .description("set (key=value) or delete (key-) labels of a repository; other labels stay unless --replace")
    .argument("<name>", "repository name")
    .argument("[labels...]", "key=value to set, key- to delete")
    .option("--replace", "make the given labels the repository's only labels (none given: remove all)")
    .option("--json", "print the response as JSON")
    .action(async (name: string, args: string[], flags: { server?: string; replace?: boolean; json?: boolean }) => {
      const update = parseLabelArgs(args, flags.replace === true);
      const res = await withMetadataClient(flags, (client) =>
        unaryCall<UpdateRepositoryResponse>((md, options, cb) =>
          client.updateRepository({ name, ...update }, md, options, cb),
        ),
      );
      if (flags.json) printJson(UpdateRepositoryResponse.toJSON(res));
      else process.stdout.write(`${name} labels: ${formatLabels(res.repository?.labels ?? {})}\n`);
    });
}

function repositoryRow(r: Repository): string[] {
  return [r.name, String(r.tagCount), formatBytes(r.totalSize), formatKind(r.kind), formatTime(r.updateTime)];
}
