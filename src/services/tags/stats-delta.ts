/**
 * The tag side of registry_stats (repositories, tags, tags per kind) moved by one tag write
 * (IndexTag, DeleteTag) without a recount: `recountTagStats` groups every tag of the namespace
 * by kind, which a front end calling IndexTag after each push should not pay. One tag write
 * changes only that tag's kind and its repository's existence, so those are read before and
 * after the write, in its transaction (locking reads on MariaDB; SQLite has one writer), and the
 * difference is added to the row. The blob side moves with the ref counts themselves
 * (aggregates.ts `applyBlobStats`). A sync run recounts the tag side at its end.
 */
import type { EntityManager } from "typeorm";
import { execute } from "../../db/sql/execute.js";
import { toJson, toNumber } from "../../db/sql/decode.js";
import { recomputeStats } from "./aggregates.js";
import { forUpdate } from "../../db/sql/sql-params.js";
import type { IndexScope } from "./tag-indexer.js";

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
    return new TagStatsWatch(scope, repository, tag, await readState(m, scope, repository, tag));
  }

  /** After the write, in the same transaction: adds the difference to registry_stats. */
  async apply(m: EntityManager): Promise<void> {
    const stats: Array<{ kinds: unknown }> = await m.query(
      `SELECT kinds FROM registry_stats WHERE namespace_id = ?${forUpdate(this.scope.dialect)}`,
      [this.scope.namespaceId],
    );
    const kinds = toJson<Record<string, unknown>>(stats[0]?.kinds);
    // No row yet, or one no recount has filled (markSynced creates it empty): nothing to add to.
    if (kinds === null) return recomputeStats(m, this.scope);
    const after = await readState(m, this.scope, this.repository, this.tag);
    const counts = new Map(Object.entries(kinds).map(([kind, n]) => [kind, toNumber(n)]));
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
    await execute(
      m,
      "UPDATE registry_stats SET repository_count = repository_count + ?, tag_count = tag_count + ?, kinds = ? WHERE namespace_id = ?",
      [
        Number(after.repositoryExists) - Number(this.before.repositoryExists),
        present(after) - present(this.before),
        JSON.stringify(Object.fromEntries(counts)),
        this.scope.namespaceId,
      ],
    );
  }
}

async function readState(m: EntityManager, scope: IndexScope, repository: string, tag: string): Promise<TagState> {
  const rows: Array<{ kind: unknown }> = await m.query(
    `SELECT t.kind FROM repositories r LEFT JOIN tags t ON t.repository_id = r.id AND t.name = ? WHERE r.namespace_id = ? AND r.name = ?${forUpdate(scope.dialect)}`,
    [tag, scope.namespaceId, repository],
  );
  const kind = rows[0]?.kind;
  return { repositoryExists: rows.length > 0, kind: kind === null || kind === undefined ? undefined : String(kind) };
}
