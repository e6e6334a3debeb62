/**
 * The read side of MetadataService, without gRPC: validate every input (names, digest,
 * page_size, order_by, filter, page_token) before any query, then read through db/queries.
 * Errors are domain errors (errors.ts); grpc/status-map.ts turns them into statuses.
 */
import type { Database } from "../../db/data-source.js";
import { DEFAULT_NAMESPACE } from "../../db/entities/index.js";
import { BLOB_SORT, findBlob, listBlobPage } from "../../db/queries/blob-queries.js";
import { keyTypes } from "../../db/queries/keyset.js";
import { namespaceIdOf } from "../../db/queries/namespaces.js";
import type { BlobRecord, RepositoryRecord, StatsRecord, TagRecord } from "../../db/queries/records.js";
import {
  findRepository,
  listRepositoryPage,
  REPOSITORY_SORTS,
  repositoryExists,
} from "../../db/queries/repository-queries.js";
import { readStats } from "../../db/queries/stats-queries.js";
import { findTag, listTagPage, TAG_SORTS } from "../../db/queries/tag-queries.js";
import { failedPrecondition, notFound } from "../../errors.js";
import { ARTIFACT_KINDS } from "../../oci/kinds.js";
import { assertDigest, assertTagName, quoteForMessage } from "../../oci/names.js";
import type { FilterCondition } from "../../db/queries/filter-sql.js";
import {
  isUnbounded,
  requireRepository,
  requireUnbounded,
  UNBOUNDED,
  type RepositoryBound,
} from "../tokens/repository-bound.js";
import { blobListFilter } from "./blob-filter.js";
import { readPage, type PageRead } from "./filtered-page.js";
import { pageSize, parseRepositoryOrder, parseTagOrder } from "./list-options.js";
import { compileListFilter, normalizeKind, type FilterFields } from "./filter/list-filter.js";
import { decodePageToken, encodePageToken, type PageQuery } from "./page-token.js";

export type {
  BlobRecord,
  KindCountRecord,
  RepositoryRecord,
  StatsRecord,
  TagRecord,
} from "../../db/queries/records.js";

export interface ListRequest {
  pageSize: number;
  pageToken: string;
  filter: readonly string[];
  orderBy: string;
}

export interface Page<T> {
  items: T[];
  /** "" on the last page. */
  nextPageToken: string;
}

/** Filter fields per list; db/queries has the matching columns (a test keeps the two in step). */
export const REPOSITORY_FILTER_FIELDS: FilterFields<RepositoryRecord> = {
  name: { get: (r) => r.name },
  kind: { get: (r) => r.kind, normalize: normalizeKind },
  artifact_type: { get: (r) => r.artifactType },
};
export const TAG_FILTER_FIELDS: FilterFields<TagRecord> = {
  name: { get: (t) => t.name },
  digest: { get: (t) => t.digest },
  kind: { get: (t) => t.kind, normalize: normalizeKind },
  artifact_type: { get: (t) => t.artifactType },
  media_type: { get: (t) => t.mediaType },
};
export const BLOB_FILTER_FIELDS: FilterFields<BlobRecord> = {
  digest: { get: (b) => b.digest },
  media_type: { get: (b) => b.mediaType },
  // Numbers as decimal text; only == and != reach it (blob-filter.ts), with the value normalized.
  ref_count: { get: (b) => String(b.refCount), normalize: (v) => String(Number(v)) },
};

const EMPTY_STATS: StatsRecord = {
  repositoryCount: 0,
  tagCount: 0,
  blobCount: 0,
  totalSize: 0,
  lastSyncAt: null,
  kinds: [],
};

export class MetadataQueries {
  private namespaceId: Promise<number> | undefined;

  constructor(
    private readonly db: Database,
    private readonly namespace: string = DEFAULT_NAMESPACE,
    /** Known already (the namespace runtimes resolve it): no lookup. */
    namespaceId?: number,
  ) {
    if (namespaceId !== undefined) this.namespaceId = Promise.resolve(namespaceId);
  }

  /** Repositories inside the caller's bound. */
  async listRepositories(req: ListRequest, bound: RepositoryBound = UNBOUNDED): Promise<Page<RepositoryRecord>> {
    const limit = pageSize(req.pageSize);
    const order = parseRepositoryOrder(req.orderBy);
    const filter = compileListFilter(req.filter, REPOSITORY_FILTER_FIELDS, (r) => r.labels);
    const query: PageQuery = { list: "repositories", order, scope: filter?.key ?? [] };
    const namespaceId = await this.nsId();
    query.namespace = namespaceId;
    const after = decodePageToken(req.pageToken, query, keyTypes(REPOSITORY_SORTS[order]));
    const page = await readPage(
      (from, rows) =>
        listRepositoryPage(this.db, {
          namespaceId,
          order,
          after: from,
          limit: rows,
          filter: filter?.condition,
          bound: boundCondition(bound),
        }),
      after,
      limit,
      filter?.matches,
    );
    return toPage(page, query);
  }

  async getRepository(name: string, bound: RepositoryBound = UNBOUNDED): Promise<RepositoryRecord> {
    requireRepository(bound, name);
    const found = await findRepository(this.db, await this.nsId(), name);
    if (!found) throw repositoryNotFound(name);
    return found;
  }

  /** Tags without their manifest bytes; NOT_FOUND for an unknown repository. */
  async listTags(repository: string, req: ListRequest, bound: RepositoryBound = UNBOUNDED): Promise<Page<TagRecord>> {
    requireRepository(bound, repository);
    const limit = pageSize(req.pageSize);
    const order = parseTagOrder(req.orderBy);
    const filter = compileListFilter(req.filter, TAG_FILTER_FIELDS, (t) => t.labels);
    const query: PageQuery = { list: "tags", order, scope: [repository, ...(filter?.key ?? [])] };
    const namespaceId = await this.nsId();
    query.namespace = namespaceId;
    const after = decodePageToken(req.pageToken, query, keyTypes(TAG_SORTS[order]));
    const page = await readPage(
      (from, rows) =>
        listTagPage(this.db, { namespaceId, repository, order, after: from, limit: rows, filter: filter?.condition }),
      after,
      limit,
      filter?.matches,
    );
    // An empty page is the only one that cannot tell "no such repository" from "no more tags".
    if (page.items.length === 0 && !(await repositoryExists(this.db, namespaceId, repository))) {
      throw repositoryNotFound(repository);
    }
    return toPage(page, query);
  }

  /**
   * One tag with its manifest bytes and per-platform sizes. NOT_FOUND: REPOSITORY_NOT_FOUND when
   * the repository is unknown, TAG_NOT_FOUND when it exists without this tag.
   */
  async getTag(repository: string, tag: string, bound: RepositoryBound = UNBOUNDED): Promise<TagRecord> {
    requireRepository(bound, repository);
    assertTagName(tag);
    const namespaceId = await this.nsId();
    const found = await findTag(this.db, namespaceId, repository, tag);
    if (found) return found;
    if (!(await repositoryExists(this.db, namespaceId, repository))) throw repositoryNotFound(repository);
    throw notFound(
      `tag ${quoteForMessage(tag)} not found in repository ${quoteForMessage(repository)}`,
      "TAG_NOT_FOUND",
    );
  }

  /**
   * The maintained totals (one row read, never a scan); zeros before the first sync. They add up
   * every repository, so a caller bound to some repositories may not read them.
   */
  async getStats(bound: RepositoryBound = UNBOUNDED): Promise<StatsRecord> {
    requireUnbounded(bound, "the registry statistics");
    const stats = await readStats(this.db, await this.nsId());
    if (!stats) return EMPTY_STATS;
    return {
      ...stats,
      kinds: stats.kinds
        .filter((k) => k.tagCount > 0)
        .sort((a, b) => kindRank(a.kind) - kindRank(b.kind) || (a.kind < b.kind ? -1 : 1)),
    };
  }

  /**
   * Blobs by digest: referenced ones (ref_count > 0) unless the filter tests `ref_count`
   * (blob-filter.ts); for a bound caller, those a tag inside its bound references.
   */
  async listBlobs(req: Omit<ListRequest, "orderBy">, bound: RepositoryBound = UNBOUNDED): Promise<Page<BlobRecord>> {
    const limit = pageSize(req.pageSize);
    const filter = compileListFilter(blobListFilter(req.filter), BLOB_FILTER_FIELDS);
    const query: PageQuery = { list: "blobs", order: "digest", scope: filter?.key ?? [] };
    const namespaceId = await this.nsId();
    query.namespace = namespaceId;
    const after = decodePageToken(req.pageToken, query, keyTypes(BLOB_SORT));
    const page = await readPage(
      (from, rows) =>
        listBlobPage(this.db, {
          namespaceId,
          after: from,
          limit: rows,
          filter: filter?.condition,
          bound: boundCondition(bound),
        }),
      after,
      limit,
      filter?.matches,
    );
    return toPage(page, query);
  }

  /**
   * Any indexed blob, unreferenced ones with ref_count 0 (DESIGN §8.4). A blob outside a caller's
   * bound (which includes every unreferenced one) is NOT_FOUND: unlike a repository name, a digest
   * says nothing about where it is used, so PERMISSION_DENIED would tell that it exists.
   */
  async getBlob(digest: string, bound: RepositoryBound = UNBOUNDED): Promise<BlobRecord> {
    assertDigest(digest);
    const found = await findBlob(this.db, await this.nsId(), digest, boundCondition(bound));
    if (!found) throw notFound(`blob ${digest} not found`, "BLOB_NOT_FOUND");
    return found;
  }

  /** Namespace ids never change: looked up once (and again after a failed lookup). */
  private nsId(): Promise<number> {
    this.namespaceId ??= this.lookupNamespaceId().catch((e: unknown) => {
      this.namespaceId = undefined;
      throw e;
    });
    return this.namespaceId;
  }

  private async lookupNamespaceId(): Promise<number> {
    const id = await namespaceIdOf(this.db, this.namespace);
    if (id === undefined)
      throw failedPrecondition(
        `namespace ${quoteForMessage(this.namespace)} does not exist: run migrations`,
        "DATABASE_NOT_MIGRATED",
      );
    return id;
  }
}

/** A bound as the SQL of db/queries selects it: one `glob` test on the name per pattern, ORed. */
function boundCondition(bound: RepositoryBound): FilterCondition | undefined {
  if (isUnbounded(bound)) return undefined;
  return bound.patterns.map((pattern) => [{ field: "name", op: "glob", value: pattern }]);
}

function toPage<T>(page: PageRead<T>, query: PageQuery): Page<T> {
  return { items: page.items, nextPageToken: page.lastKey ? encodePageToken(query, page.lastKey) : "" };
}

const repositoryNotFound = (name: string) =>
  notFound(`repository ${quoteForMessage(name)} not found`, "REPOSITORY_NOT_FOUND");

function kindRank(kind: string): number {
  const i = (ARTIFACT_KINDS as readonly string[]).indexOf(kind);
  return i === -1 ? ARTIFACT_KINDS.length : i;
}
