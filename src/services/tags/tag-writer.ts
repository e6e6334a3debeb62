/**
 * IndexTag and DeleteTag: the two writes front ends make outside a sync. IndexTag reads the
 * tag's manifest object now and upserts it; DeleteTag removes the tag from the object store
 * (manifest key, then the catalog entry through a conditional write with retry) and then from
 * the index. Both recompute the repository's aggregates and move the stats by what they changed
 * (stats-delta.ts) and write their events (/repositories/create, /tags/create|update|delete,
 * /repositories/delete) in the same transaction.
 */
import type { Database } from "../../db/data-source.js";
import { DEFAULT_NAMESPACE } from "../../db/entities/index.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import { reviveDeleted, type CollectedItem } from "../../db/gc/review-queue.js";
import { recomputeRepositories } from "../../db/index/repository-aggregates.js";
import type { TagFacts } from "../../db/index/tag-facts.js";
import { findIndexedRepository, lockRepository } from "../../db/index/tag-rows.js";
import { recordTombstone } from "../../db/index/tag-tombstones.js";
import { namespaceIdOf } from "../../db/queries/namespaces.js";
import { failedPrecondition, isEpochError, notFound } from "../../errors.js";
import { logger } from "../../logger.js";
import { assertRepositoryName, assertTagName, quoteForMessage } from "../../oci/names.js";
import { isRepositoryEntry } from "../../storage/catalog.js";
import { blobKey, manifestDigestKey, type RegistryLayout } from "../../storage/registry-layout.js";
import { TagStatsWatch } from "./stats-delta.js";
import { CollectedObjects, removedTagChanges, removeTags, writeTags } from "./tag-indexer.js";
import { appendEvents } from "../../db/events/event-store.js";
import { repositoryEvent, tagEvents } from "../events/event-topics.js";
import { childReader, readTag } from "./tag-reader.js";
import { writeTransaction } from "../../db/write-transaction.js";

export class TagWriter {
  private scope: Promise<IndexScope> | undefined;

  constructor(
    private readonly db: Database,
    /** A layout over a retrying store (front ends call these on their request path). */
    private readonly layout: RegistryLayout,
    private readonly namespace: string = DEFAULT_NAMESPACE,
    /** Known already (the namespace runtimes resolve it): no lookup. */
    namespaceId?: number,
  ) {
    if (namespaceId !== undefined) this.scope = Promise.resolve({ dialect: db.dialect, namespaceId });
  }

  /** Reads `repository:tag` from the object store and indexes it; an unreadable index child leaves it `incomplete`. */
  async indexTag(repository: string, tag: string): Promise<TagFacts> {
    assertRepositoryName(repository);
    assertTagName(tag);
    let read;
    try {
      read = await readTag(this.layout, childReader(this.layout), repository, tag);
    } catch (e) {
      // The request was fine; the stored object is not.
      if (isEpochError(e) && e.reason === "MANIFEST_INVALID")
        throw failedPrecondition(e.message, "MANIFEST_INVALID", { cause: e });
      throw e;
    }
    if (read.status !== "ok") throw new Error("unreachable: unconditional read");
    if (read.partial) logger.warn({ repository, tag, reason: read.partial.reason }, read.partial.message);
    const scope = await this.indexScope();
    const write = () =>
      writeTransaction(this.db, async (m) => {
        const stats = await TagStatsWatch.begin(m, scope, repository, tag);
        const written = await writeTags(m, scope, [read.facts], { bySync: false, onCollected: "fail" });
        await recomputeRepositories(m, scope, [{ id: written.repositoryIds.get(repository)! }]);
        await stats.apply(m);
        await appendEvents(m, scope.dialect, [
          ...written.repositoriesCreated.map((name) => repositoryEvent(scope.namespaceId, name, true)),
          ...tagEvents(scope.namespaceId, written.tagChanges),
        ]);
      });
    try {
      await write();
    } catch (e) {
      if (!(e instanceof CollectedObjects) || !(await this.revive(scope, e.items))) throw e;
      await write();
    }
    return read.facts;
  }

  /**
   * Objects the collector deleted that are back in the store (pushed again) are usable again:
   * true when every one of `items` was, and their queue rows are forgotten. Never for objects it
   * is still deleting — those may go any moment.
   */
  private async revive(scope: IndexScope, items: readonly CollectedItem[]): Promise<boolean> {
    if (items.some((i) => i.state !== "deleted")) return false;
    for (const i of items) {
      const key = i.kind === "blob" ? blobKey(i.digest) : manifestDigestKey(i.repository, i.digest);
      if (!(await this.layout.store.head(key))) return false;
    }
    await writeTransaction(this.db, (m) => reviveDeleted(m, scope, items));
    logger.info({ objects: items.length }, "objects collected earlier were pushed again; IndexTag uses them");
    return true;
  }

  /** Removes the tag from the object store and the index; an empty repository goes with its last tag. */
  async deleteTag(repository: string, tag: string): Promise<void> {
    assertRepositoryName(repository);
    assertTagName(tag);
    const scope = await this.indexScope();
    const indexed = await findIndexedRepository(this.db, scope, repository, tag);
    if (!indexed?.hasTag) {
      // Not indexed: it may still be listed (not synced yet). Never touch the store for an unknown tag.
      const read = await this.layout.readCatalog();
      const entry = read.status === "ok" ? read.catalog.document.repositories.get(repository) : undefined;
      if (!isRepositoryEntry(entry) || !entry.tags.has(tag)) {
        if (!indexed && !isRepositoryEntry(entry))
          throw notFound(`repository ${quoteForMessage(repository)} not found`, "REPOSITORY_NOT_FOUND");
        throw notFound(
          `tag ${quoteForMessage(tag)} not found in repository ${quoteForMessage(repository)}`,
          "TAG_NOT_FOUND",
        );
      }
    }
    // The object store first: should the index write fail, the next sync removes the row.
    await this.layout.removeTag(repository, tag);
    await writeTransaction(this.db, async (m) => {
      // The tombstone before the row, also for a tag not indexed yet: a sync that read the catalog
      // before now may be about to commit it, and must not (db/index/tag-tombstones.ts). The row is
      // looked up again after it, with locking reads, so one that such a sync committed meanwhile
      // goes too (removeTags finds nothing when there is no row).
      await recordTombstone(m, scope, { repository, tag });
      const current = await lockRepository(m, scope, repository);
      if (!current) return;
      const stats = await TagStatsWatch.begin(m, scope, repository, tag);
      const removed = await removeTags(m, scope, [{ repositoryId: current.id, names: [tag] }]);
      if (removed.length === 0) return;
      // A tag delete does not move the repository's updatedAt in the catalog (Epoch), so the
      // value applied before still describes it: keep it, and the next sync can skip the repository.
      const gone = await recomputeRepositories(m, scope, [
        { id: current.id, catalogUpdatedAt: current.catalogUpdatedAt },
      ]);
      await stats.apply(m);
      await appendEvents(m, scope.dialect, [
        ...tagEvents(
          scope.namespaceId,
          removedTagChanges(removed, () => repository),
        ),
        ...gone.map((name) => repositoryEvent(scope.namespaceId, name, false)),
      ]);
    });
  }

  private indexScope(): Promise<IndexScope> {
    this.scope ??= namespaceIdOf(this.db, this.namespace)
      .then((namespaceId) => {
        if (namespaceId === undefined)
          throw failedPrecondition(
            `namespace ${quoteForMessage(this.namespace)} does not exist: run migrations`,
            "DATABASE_NOT_MIGRATED",
          );
        return { dialect: this.db.dialect, namespaceId };
      })
      .catch((e: unknown) => {
        this.scope = undefined;
        throw e;
      });
    return this.scope;
  }
}
