/**
 * NamespaceService's domain (DESIGN §8.1): create, get, list, update and delete namespaces.
 * Who may call it (a system admin) is decided in grpc/auth.ts; this file validates input,
 * talks to db/namespaces, and keeps this replica's resolver and runtimes in step with what it
 * changed (other replicas follow within the resolver's TTL).
 */
import type { Database } from "../../db/data-source.js";
import { lockNamespace } from "../../db/labels/label-owners.js";
import { readLabels } from "../../db/labels/label-store.js";
import type { Labels } from "../../db/labels/label-tables.js";
import {
  deleteEmptyNamespace,
  findNamespace,
  insertNamespace,
  listNamespacePage,
  NAMESPACE_SORT,
  touchNamespace,
  type LabelledNamespace,
  type NamespaceRecord,
} from "../../db/namespaces/namespace-store.js";
import { keyTypes } from "../../db/queries/keyset.js";
import { alreadyExists, failedPrecondition } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";
import { assertLabels } from "../labels/label-rules.js";
import { parseLabelUpdate, sortedLabels } from "../labels/label-mask.js";
import { updateLabels, type LabelUpdateRequest } from "../labels/label-updater.js";
import { readPage } from "../queries/filtered-page.js";
import { compileListFilter, type FilterFields } from "../queries/filter/list-filter.js";
import { pageSize } from "../queries/list-options.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../queries/page-token.js";
import { syncLeaseName } from "../sync/sync-commit.js";
import { appendEvents } from "../../db/events/event-store.js";
import { blobDeleteEvent, namespaceEvent } from "../events/event-topics.js";
import { assertNamespaceName, DEFAULT_NAMESPACE } from "./namespace-name.js";
import { namespaceNotFound, type NamespaceResolver } from "./namespace-resolver.js";
import { checkStorageUrl, effectiveStorageUrl, redactStorageUrl } from "./namespace-roots.js";
import type { NamespaceRuntimes } from "./namespace-runtimes.js";

/** A namespace as callers see it. */
export interface Namespace {
  name: string;
  /** The registry root it indexes, without credentials. */
  storageUrl: string;
  labels: Record<string, string>;
  createTime: Date;
  updateTime: Date;
}

export interface CreateNamespaceInput {
  name: string;
  storageUrl: string;
  labels: Record<string, string>;
}

export const NAMESPACE_FILTER_FIELDS: FilterFields<LabelledNamespace> = { name: { get: (n) => n.name } };

export class NamespaceService {
  constructor(
    private readonly db: Database,
    private readonly resolver: NamespaceResolver,
    private readonly runtimes: NamespaceRuntimes,
    /** EPOCH_STORAGE_URL: the root of `default` and of every namespace created without its own. */
    private readonly serverStorageUrl: string,
  ) {}

  async create(input: CreateNamespaceInput): Promise<Namespace> {
    assertNamespaceName(input.name);
    const storageUrl = checkStorageUrl(input.storageUrl);
    assertLabels(input.labels);
    const created = await insertNamespace(this.db, input.name, storageUrl, input.labels, (row) => [
      namespaceEvent(row, "create", input.labels),
    ]);
    if (!created) throw alreadyExists(`namespace ${quoteForMessage(input.name)} already exists`, "NAMESPACE_EXISTS");
    this.resolver.evict(input.name);
    return this.view(created, sortedLabels(input.labels));
  }

  async get(name: string): Promise<Namespace> {
    const found = await this.find(name);
    return this.view(found, await readLabels(this.db, "namespace", [found.id]));
  }

  async list(req: {
    pageSize: number;
    pageToken: string;
    filter: readonly string[];
  }): Promise<{ namespaces: Namespace[]; nextPageToken: string }> {
    const limit = pageSize(req.pageSize);
    const filter = compileListFilter(req.filter, NAMESPACE_FILTER_FIELDS, (n) => n.labels);
    const query: PageQuery = { list: "namespaces", order: "name", scope: filter?.key ?? [] };
    const after = decodePageToken(req.pageToken, query, keyTypes(NAMESPACE_SORT));
    const page = await readPage(
      (from, rows) => listNamespacePage(this.db, { after: from, limit: rows, filter: filter?.condition }),
      after,
      limit,
      filter?.matches,
    );
    return {
      namespaces: page.items.map((n) => this.view(n, n.labels)),
      nextPageToken: page.lastKey ? encodePageToken(query, page.lastKey) : "",
    };
  }

  /**
   * Labels only (DESIGN §8.2 update_mask semantics, services/labels); `update_time` moves when
   * they change, in the same transaction.
   */
  async update(req: { name: string } & LabelUpdateRequest): Promise<Namespace> {
    assertNamespaceName(req.name);
    parseLabelUpdate(req.labels, req.updateMask);
    await updateLabels(
      this.db,
      "namespace",
      (m) => lockNamespace(m, this.db.dialect, req.name),
      req,
      () => namespaceNotFound(req.name),
      async (m, [id], labels) => {
        await touchNamespace(m, this.db.dialect, Number(id));
        await appendEvents(m, this.db.dialect, [namespaceEvent({ id: Number(id), name: req.name }, "update", labels)]);
      },
    );
    return this.get(req.name);
  }

  /** Refuses `default` and a namespace that still has repositories, tokens, live leases or open uploads. */
  async delete(name: string): Promise<void> {
    const found = await this.find(name);
    if (found.name === DEFAULT_NAMESPACE)
      throw failedPrecondition("the default namespace can never be deleted", "INVALID_ARGUMENT");
    // The blob rows go with it (unreferenced: no repository is left), each a /blobs/delete before the /namespaces/delete.
    const outcome = await deleteEmptyNamespace(this.db, found.id, syncLeaseName(found), (blobs) => [
      ...blobs.map((blob) => blobDeleteEvent(found, blob)),
      namespaceEvent(found, "delete"),
    ]);
    if (outcome === "gone") throw namespaceNotFound(name);
    if (outcome !== "deleted") {
      throw failedPrecondition(
        `namespace ${quoteForMessage(name)} is not empty: ${outcome.repositories} repositories, ${outcome.tokens} tokens, ${outcome.leases} leases and ${outcome.uploads} open uploads (delete or abort them first)`,
        "NAMESPACE_NOT_EMPTY",
      );
    }
    this.resolver.evict(name);
    await this.runtimes.drop(found.id);
  }

  private async find(name: string): Promise<NamespaceRecord> {
    assertNamespaceName(name);
    const found = await findNamespace(this.db, name);
    if (!found) throw namespaceNotFound(name);
    return found;
  }

  private view(n: NamespaceRecord, labels: Labels): Namespace {
    return {
      name: n.name,
      storageUrl: redactStorageUrl(effectiveStorageUrl(this.serverStorageUrl, n)),
      labels,
      createTime: n.createdAt,
      updateTime: n.updatedAt ?? n.createdAt,
    };
  }
}
