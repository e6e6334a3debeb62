/**
 * `epoch-meta leases create|list|get|label|delete|add-resource|rm-resource|resources`:
 * LeaseService through a running server, in the namespace of --namespace / EPOCH_NAMESPACE.
 * A push or service token manages the leases it created; `list` and other tokens' leases need admin.
 */
import { InvalidArgumentError, type Command } from "commander";
import {
  CreateLeaseResponse,
  GetLeaseResponse,
  LeaseResourceKind,
  ListLeaseResourcesResponse,
  ListLeasesResponse,
  UpdateLeaseResponse,
  leaseResourceKindToJSON,
  type Lease,
} from "epoch-meta-client/epoch/v1/lease_service";
import type { Duration } from "epoch-meta-client/google/protobuf/duration";
import { parseDuration } from "../../config.js";
import { readPages, unaryCall } from "../calls.js";
import { addServerOption, clientConfigFrom, connect, type Clients } from "../client.js";
import { formatLabels, parseLabelArgs } from "../labels.js";
import { addListFlags, pageSizeOf, type ListFlags } from "../list-flags.js";
import { formatTime, printJson, printNextPageHint, printTable } from "../output.js";

type ServerFlags = { server?: string; namespace?: string };

async function withLeases<T>(opts: ServerFlags, fn: (client: Clients["leases"]) => Promise<T>): Promise<T> {
  const clients = connect(clientConfigFrom(opts));
  try {
    return await fn(clients.leases);
  } finally {
    clients.close();
  }
}

const KINDS: Record<string, LeaseResourceKind> = {
  blob: LeaseResourceKind.LEASE_RESOURCE_KIND_BLOB,
  manifest: LeaseResourceKind.LEASE_RESOURCE_KIND_MANIFEST,
  upload: LeaseResourceKind.LEASE_RESOURCE_KIND_UPLOAD,
};

function resourceKind(text: string): LeaseResourceKind {
  const kind = KINDS[text.toLowerCase()];
  if (kind === undefined) throw new InvalidArgumentError("must be blob, manifest or upload");
  return kind;
}

/** "1h" → a Duration; unset → none (the lease never expires). */
function ttlOption(text: string): Duration {
  const ms = parseDuration(text.trim());
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('must be a duration such as "30m" or "24h"');
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

const kindName = (k: LeaseResourceKind) =>
  leaseResourceKindToJSON(k)
    .replace(/^LEASE_RESOURCE_KIND_/, "")
    .toLowerCase();

export function register(program: Command): void {
  const leases = program
    .command("leases")
    .description(
      "create, list, show and delete leases, which keep blobs, manifests and uploads from garbage collection",
    );

  addServerOption(leases.command("create"))
    .description("create a lease (prints its id)")
    .argument("[id]", "letters and digits joined by . _ - (default: generated)")
    .option("--label <key=value>", "a label of the lease (repeatable)", collect, [])
    .option("--ttl <duration>", 'expire after this long, e.g. "24h" (default: never)', ttlOption)
    .option("--json", "print the response as JSON")
    .action(
      async (id: string | undefined, flags: ServerFlags & { label: string[]; ttl?: Duration; json?: boolean }) => {
        const { labels } = parseLabelArgs(flags.label, true);
        const res = await withLeases(flags, (client) =>
          unaryCall<CreateLeaseResponse>((md, options, cb) =>
            client.createLease({ id: id ?? "", labels, ttl: flags.ttl }, md, options, cb),
          ),
        );
        if (flags.json) printJson(CreateLeaseResponse.toJSON(res));
        else process.stdout.write(`${res.lease?.id ?? ""}\n`);
      },
    );

  addListFlags(addServerOption(leases.command("list")), 'order: "id" (the only one)')
    .description('list unexpired leases (admin); filter on id and labels."key"')
    .action(async (flags: ListFlags & ServerFlags) => {
      const result = await withLeases(flags, (client) =>
        readPages(flags.pageToken ?? "", flags.all === true, async (pageToken) => {
          const res = await unaryCall<ListLeasesResponse>((md, options, cb) =>
            client.listLeases({ pageSize: pageSizeOf(flags), pageToken, filter: flags.filter ?? [] }, md, options, cb),
          );
          return { items: res.leases, nextPageToken: res.nextPageToken };
        }),
      );
      if (flags.json) {
        printJson(ListLeasesResponse.toJSON({ leases: result.items, nextPageToken: result.nextPageToken }));
        return;
      }
      printTable(
        ["ID", "LABELS", "CREATED", "EXPIRES"],
        result.items.map((l) => [l.id, formatLabels(l.labels), formatTime(l.createTime), formatTime(l.expireTime)]),
      );
      printNextPageHint(result.nextPageToken);
    });

  addServerOption(leases.command("get"))
    .description("show one lease")
    .argument("<id>", "lease id")
    .option("--json", "print the response as JSON")
    .action(async (id: string, flags: ServerFlags & { json?: boolean }) => {
      const res = await withLeases(flags, (client) =>
        unaryCall<GetLeaseResponse>((md, options, cb) => client.getLease({ id }, md, options, cb)),
      );
      if (flags.json) printJson(GetLeaseResponse.toJSON(res));
      else if (res.lease) show(res.lease);
    });

  addServerOption(leases.command("label"))
    .description("set (key=value) or delete (key-) labels of a lease; other labels stay unless --replace")
    .argument("<id>", "lease id")
    .argument("[labels...]", "key=value to set, key- to delete")
    .option("--replace", "make the given labels the lease's only labels (none given: remove all)")
    .option("--json", "print the response as JSON")
    .action(async (id: string, args: string[], flags: ServerFlags & { replace?: boolean; json?: boolean }) => {
      const update = parseLabelArgs(args, flags.replace === true);
      const res = await withLeases(flags, (client) =>
        unaryCall<UpdateLeaseResponse>((md, options, cb) => client.updateLease({ id, ...update }, md, options, cb)),
      );
      if (flags.json) printJson(UpdateLeaseResponse.toJSON(res));
      else process.stdout.write(`lease ${id} labels: ${formatLabels(res.lease?.labels ?? {})}\n`);
    });

  addServerOption(leases.command("delete"))
    .description("delete a lease: what it held is no longer protected from garbage collection")
    .argument("<id>", "lease id")
    .action(async (id: string, flags: ServerFlags) => {
      await withLeases(flags, (client) => unaryCall((md, options, cb) => client.deleteLease({ id }, md, options, cb)));
      process.stderr.write(`deleted lease ${id}\n`);
    });

  for (const [name, verb] of [
    ["add-resource", "add"],
    ["rm-resource", "remove"],
  ] as const) {
    addServerOption(leases.command(name))
      .description(`${verb} a resource of a lease (a digest for blob and manifest, an upload id for upload)`)
      .argument("<id>", "lease id")
      .argument("<kind>", "blob, manifest or upload", resourceKind)
      .argument("<resource>", "sha256:<hex> or an upload id")
      .action(async (id: string, kind: LeaseResourceKind, resource: string, flags: ServerFlags) => {
        const request = { id, resource: { kind, id: resource } };
        await withLeases(flags, (client) =>
          unaryCall((md, options, cb) =>
            verb === "add"
              ? client.addLeaseResource(request, md, options, cb)
              : client.deleteLeaseResource(request, md, options, cb),
          ),
        );
        process.stderr.write(`${verb === "add" ? "added" : "removed"} ${kindName(kind)} ${resource}\n`);
      });
  }

  addServerOption(leases.command("resources"))
    .description("list what a lease holds")
    .argument("<id>", "lease id")
    .option("--json", "print the response as JSON")
    .action(async (id: string, flags: ServerFlags & { json?: boolean }) => {
      const res = await withLeases(flags, (client) =>
        unaryCall<ListLeaseResourcesResponse>((md, options, cb) => client.listLeaseResources({ id }, md, options, cb)),
      );
      if (flags.json) printJson(ListLeaseResourcesResponse.toJSON(res));
      else
        printTable(
          ["KIND", "ID"],
          res.resources.map((r) => [kindName(r.kind), r.id]),
        );
    });
}

/** Commander's accumulator for a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function show(l: Lease): void {
  printTable(
    ["FIELD", "VALUE"],
    [
      ["id", l.id],
      ["labels", formatLabels(l.labels)],
      ["created", formatTime(l.createTime)],
      ["expires", formatTime(l.expireTime)],
      ["owner token", l.ownerTokenId === 0 ? "-" : String(l.ownerTokenId)],
    ],
  );
}
