/**
 * NamespaceService's domain (DESIGN §8.1): create, get, list, update and delete namespaces.
 * Who may call it (a system admin) is decided in grpc/auth.ts; this file validates input,
 * talks to db/namespaces, and keeps this replica's resolver and runtimes in step with what it
 * changed (other replicas follow within the resolver's TTL).
 */
import type { Database } from "../../db/data-source.js";
import {
  deleteEmptyNamespace,
  findNamespace,
  insertNamespace,
  listNamespacePage,
  type NamespaceRecord,
} from "../../db/namespaces/namespace-store.js";
import { keyTypes } from "../../db/queries/keyset.js";
import { NAMESPACE_SORT } from "../../db/namespaces/namespace-store.js";
import { alreadyExists, failedPrecondition, unimplemented } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";
import { readPage } from "../queries/filtered-page.js";
import { compileListFilter, type FilterFields } from "../queries/filter/list-filter.js";
import { pageSize } from "../queries/list-options.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../queries/page-token.js";
import { syncLeaseName } from "../sync/sync-commit.js";
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

export const NAMESPACE_FILTER_FIELDS: FilterFields<NamespaceRecord> = { name: { get: (n) => n.name } };

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
    assertNoLabels(input.labels);
    const created = await insertNamespace(this.db, input.name, storageUrl);
    if (!created) throw alreadyExists(`namespace ${quoteForMessage(input.name)} already exists`, "NAMESPACE_EXISTS");
    this.resolver.evict(input.name);
    return this.view(created);
  }

  async get(name: string): Promise<Namespace> {
    return this.view(await this.find(name));
  }

  async list(req: {
    pageSize: number;
    pageToken: string;
    filter: readonly string[];
  }): Promise<{ namespaces: Namespace[]; nextPageToken: string }> {
    const limit = pageSize(req.pageSize);
    const filter = compileListFilter(req.filter, NAMESPACE_FILTER_FIELDS);
    const query: PageQuery = { list: "namespaces", order: "name", scope: filter?.key ?? [] };
    const after = decodePageToken(req.pageToken, query, keyTypes(NAMESPACE_SORT));
    const page = await readPage(
      (from, rows) => listNamespacePage(this.db, { after: from, limit: rows, filter: filter?.condition }),
      after,
      limit,
      filter?.matches,
    );
    return {
      namespaces: page.items.map((n) => this.view(n)),
      nextPageToken: page.lastKey ? encodePageToken(query, page.lastKey) : "",
    };
  }

  /** Labels only; they arrive with the labels module (db/labels). */
  async update(req: { name: string; labels: Record<string, string>; updateMask: string[] }): Promise<Namespace> {
    await this.find(req.name);
    throw unimplemented("namespace labels are not implemented yet (they arrive with the labels module)");
  }

  /** Refuses `default` and a namespace that still has repositories, tokens, live leases or open uploads. */
  async delete(name: string): Promise<void> {
    const found = await this.find(name);
    if (found.name === DEFAULT_NAMESPACE)
      throw failedPrecondition("the default namespace can never be deleted", "INVALID_ARGUMENT");
    const outcome = await deleteEmptyNamespace(this.db, found.id, syncLeaseName(found));
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

  private view(n: NamespaceRecord): Namespace {
    return {
      name: n.name,
      storageUrl: redactStorageUrl(effectiveStorageUrl(this.serverStorageUrl, n)),
      labels: {},
      createTime: n.createdAt,
      updateTime: n.updatedAt ?? n.createdAt,
    };
  }
}

function assertNoLabels(labels: Record<string, string>): void {
  if (Object.keys(labels).length > 0)
    throw unimplemented("namespace labels are not implemented yet (they arrive with the labels module)");
}
