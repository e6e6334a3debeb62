/** `epoch-meta namespaces list|create|get|delete`: NamespaceService through a running server (system admin). */
import type { Command } from "commander";
import {
  CreateNamespaceResponse,
  GetNamespaceResponse,
  ListNamespacesResponse,
  type Namespace,
} from "epoch-meta-client/epoch/v1/namespace_service";
import { readPages, unaryCall } from "./calls.js";
import { addServerOption, clientConfigFrom, connect, type Clients } from "./client.js";
import { addListFlags, pageSizeOf, type ListFlags } from "./list-flags.js";
import { formatTime, printJson, printNextPageHint, printTable } from "./output.js";

type ServerFlags = { server?: string; namespace?: string };

async function withNamespaceClient<T>(
  opts: ServerFlags,
  fn: (client: Clients["namespaces"]) => Promise<T>,
): Promise<T> {
  const clients = connect(clientConfigFrom(opts));
  try {
    return await fn(clients.namespaces);
  } finally {
    clients.close();
  }
}

export function register(program: Command): void {
  const namespaces = program
    .command("namespaces")
    .description("list, create, show and delete namespaces (through the server; needs a system admin token)");

  addListFlags(addServerOption(namespaces.command("list")), 'order: "name" (the only one)')
    .description("list namespaces")
    .action(async (flags: ListFlags & ServerFlags) => {
      const result = await withNamespaceClient(flags, (client) =>
        readPages(flags.pageToken ?? "", flags.all === true, async (pageToken) => {
          const res = await unaryCall<ListNamespacesResponse>((md, options, cb) =>
            client.listNamespaces(
              { pageSize: pageSizeOf(flags), pageToken, filter: flags.filter ?? [] },
              md,
              options,
              cb,
            ),
          );
          return { items: res.namespaces, nextPageToken: res.nextPageToken };
        }),
      );
      if (flags.json) {
        printJson(ListNamespacesResponse.toJSON({ namespaces: result.items, nextPageToken: result.nextPageToken }));
        return;
      }
      printTable(
        ["NAME", "STORAGE", "CREATED"],
        result.items.map((n) => [n.name, n.storageUrl, formatTime(n.createTime)]),
      );
      printNextPageHint(result.nextPageToken);
    });

  addServerOption(namespaces.command("create"))
    .description("create a namespace: an isolated registry with its own root, tokens and index")
    .argument("<name>", "lowercase letters and digits separated by '.', '_' or '-' (at most 76)")
    .option(
      "--storage-url <url>",
      "its registry root (default: namespaces/<name>/ under the server's EPOCH_STORAGE_URL)",
    )
    .option("--json", "print the response as JSON")
    .action(async (name: string, flags: ServerFlags & { storageUrl?: string; json?: boolean }) => {
      const res = await withNamespaceClient(flags, (client) =>
        unaryCall<CreateNamespaceResponse>((md, options, cb) =>
          client.createNamespace({ name, storageUrl: flags.storageUrl ?? "", labels: {} }, md, options, cb),
        ),
      );
      if (flags.json) printJson(CreateNamespaceResponse.toJSON(res));
      else if (res.namespace) show(res.namespace);
    });

  addServerOption(namespaces.command("get"))
    .description("show one namespace")
    .argument("<name>", "namespace name")
    .option("--json", "print the response as JSON")
    .action(async (name: string, flags: ServerFlags & { json?: boolean }) => {
      const res = await withNamespaceClient(flags, (client) =>
        unaryCall<GetNamespaceResponse>((md, options, cb) => client.getNamespace({ name }, md, options, cb)),
      );
      if (flags.json) printJson(GetNamespaceResponse.toJSON(res));
      else if (res.namespace) show(res.namespace);
    });

  addServerOption(namespaces.command("delete"))
    .description("delete an empty namespace (no repositories, no tokens); never `default`")
    .argument("<name>", "namespace name")
    .action(async (name: string, flags: ServerFlags) => {
      await withNamespaceClient(flags, (client) =>
        unaryCall((md, options, cb) => client.deleteNamespace({ name }, md, options, cb)),
      );
      process.stderr.write(`deleted namespace ${name}\n`);
    });
}

function show(n: Namespace): void {
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`);
  printTable(
    ["FIELD", "VALUE"],
    [
      ["name", n.name],
      ["storage", n.storageUrl],
      ["labels", labels.length > 0 ? labels.join(", ") : "-"],
      ["created", formatTime(n.createTime)],
      ["updated", formatTime(n.updateTime)],
    ],
  );
}
