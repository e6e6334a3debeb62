/** `epoch-meta tags list|get|delete`: tags through a running server. */
import type { Command } from "commander";
import {
  GetTagResponse,
  ListTagsResponse,
  UpdateTagResponse,
  type DeleteTagResponse,
  type ListTagsRequest,
} from "epoch-meta-client/epoch/v1/metadata_service";
import type { Tag } from "epoch-meta-client/epoch/v1/resources";
import { readPages, unaryCall, withMetadataClient } from "./calls.js";
import { addServerOption } from "./client.js";
import { formatLabels, parseLabelArgs } from "./labels.js";
import { addListFlags, pageSizeOf, type ListFlags } from "./list-flags.js";
import {
  formatBytes,
  formatKind,
  formatTime,
  printJson,
  printNextPageHint,
  printTable,
  shortDigest,
} from "./output.js";

export function register(program: Command): void {
  const tags = program.command("tags").description("list, show and delete tags (through the server)");

  addListFlags(
    addServerOption(tags.command("list")),
    'order: "name" (default), "name desc", "push_time desc", "total_size desc"',
  )
    .description("list the tags of a repository")
    .argument("<repository>", "repository name, e.g. library/app")
    .action(async (repository: string, flags: ListFlags & { server?: string }) => {
      const result = await withMetadataClient(flags, (client) =>
        readPages(flags.pageToken ?? "", flags.all === true, async (pageToken) => {
          const request: ListTagsRequest = {
            repository,
            pageSize: pageSizeOf(flags),
            pageToken,
            filter: flags.filter ?? [],
            orderBy: flags.orderBy ?? "",
          };
          const res = await unaryCall<ListTagsResponse>((md, options, cb) => client.listTags(request, md, options, cb));
          return { items: res.tags, nextPageToken: res.nextPageToken };
        }),
      );
      if (flags.json) {
        printJson(ListTagsResponse.toJSON({ tags: result.items, nextPageToken: result.nextPageToken }));
        return;
      }
      printTable(["TAG", "DIGEST", "SIZE", "KIND", "PUSHED", ""], result.items.map(tagRow));
      printNextPageHint(result.nextPageToken);
    });

  addServerOption(tags.command("get"))
    .description("show one tag: sizes per platform, and its manifest with --manifest")
    .argument("<repository>", "repository name")
    .argument("<tag>", "tag name")
    .option("--json", "print the response as JSON")
    .option("--manifest", "print only the raw manifest")
    .action(async (repository: string, tag: string, flags: { server?: string; json?: boolean; manifest?: boolean }) => {
      const res = await withMetadataClient(flags, (client) =>
        unaryCall<GetTagResponse>((md, options, cb) => client.getTag({ repository, tag }, md, options, cb)),
      );
      if (flags.json) {
        printJson(GetTagResponse.toJSON(res));
        return;
      }
      const t = res.tag;
      if (!t) return;
      if (flags.manifest) {
        process.stdout.write(t.manifestJson.endsWith("\n") ? t.manifestJson : `${t.manifestJson}\n`);
        return;
      }
      printTagDetail(t);
    });

  addServerOption(tags.command("delete"))
    .description("delete a tag from the object store and the index (blobs stay for garbage collection)")
    .argument("<repository>", "repository name")
    .argument("<tag>", "tag name")
    .action(async (repository: string, tag: string, flags: { server?: string }) => {
      await withMetadataClient(flags, (client) =>
        unaryCall<DeleteTagResponse>((md, options, cb) => client.deleteTag({ repository, tag }, md, options, cb)),
      );
      process.stdout.write(`deleted ${repository}:${tag}\n`);
    });

  addServerOption(tags.command("label"))
    .description("set (key=value) or delete (key-) labels of a tag; other labels stay unless --replace")
    .argument("<repository>", "repository name")
    .argument("<tag>", "tag name")
    .argument("[labels...]", "key=value to set, key- to delete")
    .option("--replace", "make the given labels the tag's only labels (none given: remove all)")
    .option("--json", "print the response as JSON")
    .action(
      async (
        repository: string,
        tag: string,
        args: string[],
        flags: { server?: string; replace?: boolean; json?: boolean },
      ) => {
        const update = parseLabelArgs(args, flags.replace === true);
        const res = await withMetadataClient(flags, (client) =>
          unaryCall<UpdateTagResponse>((md, options, cb) =>
            client.updateTag({ repository, tag, ...update }, md, options, cb),
          ),
        );
        if (flags.json) printJson(UpdateTagResponse.toJSON(res));
        else process.stdout.write(`${repository}:${tag} labels: ${formatLabels(res.tag?.labels ?? {})}\n`);
      },
    );
}

function tagRow(t: Tag): string[] {
  return [
    t.name,
    shortDigest(t.digest),
    formatBytes(t.totalSize),
    formatKind(t.kind),
    formatTime(t.pushTime),
    t.incomplete ? "incomplete" : "",
  ];
}

function printTagDetail(t: Tag): void {
  printTable(
    ["FIELD", "VALUE"],
    [
      ["tag", `${t.repository}:${t.name}`],
      ["digest", t.digest],
      ["media type", t.mediaType || "-"],
      ["artifact type", t.artifactType || "-"],
      ["kind", formatKind(t.kind)],
      ["size", `${formatBytes(t.totalSize)} (${t.totalSize} bytes)`],
      ["layers", String(t.layerCount)],
      ["pushed", formatTime(t.pushTime)],
      ["synced", formatTime(t.syncTime)],
      ["incomplete", t.incomplete ? "yes: some index children could not be read" : "no"],
      ["labels", formatLabels(t.labels)],
    ],
  );
  if (t.platformSizes.length === 0) return;
  process.stdout.write("\n");
  printTable(
    ["PLATFORM", "DIGEST", "SIZE", "LAYERS"],
    t.platformSizes.map((p) => [
      [p.os, p.architecture, p.variant].filter((part) => part !== "").join("/") || "-",
      shortDigest(p.digest),
      formatBytes(p.size),
      String(p.layerCount),
    ]),
  );
}
