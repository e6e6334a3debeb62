/** `epoch-meta namespaces list|create|get|label|delete`: NamespaceService through a running server (system admin). */
import type { Command } from "commander";
import {
  CreateNamespaceResponse,
  GetNamespaceResponse,
  ListNamespacesResponse,
  UpdateNamespaceResponse,
  type Namespace,
} from "epoch-meta-client/epoch/v1/namespace_service";
import { readPages, unaryCall } from "./calls.js";
import { addServerOption, clientConfigFrom, connect, type Clients } from "./client.js";
import { formatLabels, parseLabelArgs } from "./labels.js";
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
    .description("list, create, show, label and delete namespaces (through the server; needs a system admin token)");

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
        ["NAME", "STORAGE", "LABELS", "CREATED"],
        result.items.map((n) => [n.name, n.storageUrl, formatLabels(n.labels), formatTime(n.createTime)]),
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
    .option("--label <key=value>", "a label of the new namespace (repeatable)", collect, [])
    .option("--json", "print the response as JSON")
    .action(async (name: string, flags: ServerFlags & { storageUrl?: string; label: string[]; json?: boolean }) => {
      const { labels } = parseLabelArgs(flags.label, true);
      const res = await withNamespaceClient(flags, (client) =>
        unaryCall<CreateNamespaceResponse>((md, options, cb) =>
          client.createNamespace({ name, storageUrl: flags.storageUrl ?? "", labels }, md, options, cb),
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

  addServerOption(namespaces.command("label"))
    .description("set (key=value) or delete (key-) labels of a namespace; other labels stay unless --replace")
    .argument("<name>", "namespace name")
    .argument("[labels...]", "key=value to set, key- to delete")
    .option("--replace", "make the given labels the namespace's only labels (none given: remove all)")
    .option("--json", "print the response as JSON")
    .action(async (name: string, args: string[], flags: ServerFlags & { replace?: boolean; json?: boolean }) => {
      const update = parseLabelArgs(args, flags.replace === true);
      const res = await withNamespaceClient(flags, (client) =>
        unaryCall<UpdateNamespaceResponse>((md, options, cb) =>
          client.updateNamespace({ name, ...update }, md, options, cb),
        ),
      );
      if (flags.json) printJson(UpdateNamespaceResponse.toJSON(res));
      else process.stdout.write(`namespace ${name} labels: ${formatLabels(res.namespace?.labels ?? {})}\n`);
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

/** Commander's accumulator for a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function show(n: Namespace): void {
  printTable(
    ["FIELD", "VALUE"],
    [
      ["name", n.name],
      ["storage", n.storageUrl],
      ["labels", formatLabels(n.labels)],
      ["created", formatTime(n.createTime)],
      ["updated", formatTime(n.updateTime)],
    ],
  );
}
