/**
 * The tag side of registry_stats (repositories, tags, tags per kind) moved by one tag write
 * (IndexTag, DeleteTag) without a recount: `recountTagStats` groups every tag of the namespace
 * by kind, which a front end calling IndexTag after each push should not pay. One tag write
 * changes only that tag's kind and its repository's existence, so those are read before and
 * after the write, in its transaction (locking reads on MariaDB; SQLite has one writer), and the
 * difference is added to the row. The blob side moves with the ref counts themselves
 * (db/index/registry-stats.ts `applyBlobStats`). A sync run recounts the tag side at its end.
 */
import type { EntityManager } from "typeorm";
import type { IndexScope } from "../../db/index/index-scope.js";
import { lockedKindCounts, moveTagStats, recomputeStats } from "../../db/index/registry-stats.js";
import { lockTagKind } from "../../db/index/tag-rows.js";

interface TagState {
  repositoryExists: boolean;
  /** The tag's kind; undefined when the tag is not indexed. */
  kind: string | undefined;
}

export class TagStatsWatch {
  private constructor(
    private readonly scope: IndexScope,
    private readonly repository: string,
    private readonly tag: string,
    private readonly before: TagState,
  ) {}

  /** Reads the state the write may change, before it. */
  static async begin(m: EntityManager, scope: IndexScope, repository: string, tag: string): Promise<TagStatsWatch> {
    return new TagStatsWatch(scope, repository, tag, await lockTagKind(m, scope, repository, tag));
  }

  /** After the write, in the same transaction: adds the difference to registry_stats. */
  async apply(m: EntityManager): Promise<void> {
    const counts = await lockedKindCounts(m, this.scope);
    // No row yet, or one no recount has filled (markSynced creates it empty): nothing to add to.
    if (counts === null) return recomputeStats(m, this.scope);
    const after = await lockTagKind(m, this.scope, this.repository, this.tag);
    const move = (kind: string | undefined, by: number) => {
      if (kind === undefined) return;
      const n = (counts.get(kind) ?? 0) + by;
      // As the recount writes it: only kinds some tag has.
      if (n > 0) counts.set(kind, n);
      else counts.delete(kind);
    };
    move(this.before.kind, -1);
    move(after.kind, 1);
    const present = (s: TagState) => (s.kind === undefined ? 0 : 1);
    await moveTagStats(m, this.scope, {
      repositories: Number(after.repositoryExists) - Number(this.before.repositoryExists),
      tags: present(after) - present(this.before),
      kinds: counts,
    });
  }
}
