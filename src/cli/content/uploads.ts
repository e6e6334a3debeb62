/** `epoch-meta uploads list`: UploadService's administration view (admin), in the --namespace. */
import type { Command } from "commander";
import { ListUploadsResponse, uploadStateToJSON } from "epoch-meta-client/epoch/v1/upload_service";
import { readPages, unaryCall } from "../calls.js";
import { addServerOption, clientConfigFrom, connect } from "../client.js";
import { addListFlags, pageSizeOf, type ListFlags } from "../list-flags.js";
import { formatBytes, formatTime, printJson, printNextPageHint, printTable, shortDigest } from "../output.js";

type ServerFlags = { server?: string; namespace?: string };

export function register(program: Command): void {
  const uploads = program.command("uploads").description("list uploads in progress, committed and aborted (admin)");

  addListFlags(addServerOption(uploads.command("list")), 'order: "id" (the only one)')
    .description(
      "list uploads; filter on id, repository, state (open, committed, aborted), expected_digest, digest, lease_id",
    )
    .action(async (flags: ListFlags & ServerFlags) => {
      const clients = connect(clientConfigFrom(flags));
      let result;
      try {
        result = await readPages(flags.pageToken ?? "", flags.all === true, async (pageToken) => {
          const res = await unaryCall<ListUploadsResponse>((md, options, cb) =>
            clients.uploads.listUploads(
              { pageSize: pageSizeOf(flags), pageToken, filter: flags.filter ?? [] },
              md,
              options,
              cb,
            ),
          );
          return { items: res.uploads, nextPageToken: res.nextPageToken };
        });
      } finally {
        clients.close();
      }
      if (flags.json) {
        printJson(ListUploadsResponse.toJSON({ uploads: result.items, nextPageToken: result.nextPageToken }));
        return;
      }
      printTable(
        ["ID", "REPOSITORY", "STATE", "DIGEST", "SIZE", "STARTED", "EXPIRES"],
        result.items.map((u) => {
          const state = uploadStateToJSON(u.state)
            .replace(/^UPLOAD_STATE_/, "")
            .toLowerCase();
          const digest = u.digest || u.expectedDigest;
          return [
            u.id,
            u.repository,
            u.expired ? "expired" : state,
            digest ? shortDigest(digest) : "-",
            u.digest ? formatBytes(u.size) : "-",
            formatTime(u.startTime),
            formatTime(u.expireTime),
          ];
        }),
      );
      printNextPageHint(result.nextPageToken);
    });
}
