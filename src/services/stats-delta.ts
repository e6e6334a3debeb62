/**
 * The registry_stats row moved by one tag write (IndexTag, DeleteTag) without a scan.
 * `recomputeStats` reads every tag and every blob of the namespace (a third of a second at 100k
 * tags, seconds at a million), which a front end calling IndexTag after each push must not pay.
 * One tag write can change only the ref counts of the blobs of the tag's old and new manifest,
 * the tag's own kind and its repository's existence, so those are read before and after the
 * write, in its transaction, and the difference is added to the row. On MariaDB the reads lock
 * (a concurrent writer of the same blobs waits, then sees the committed counts); SQLite has one
 * writer. A sync still recomputes the row from scratch once per run, which also repairs drift.
 */
import type { EntityManager } from "typeorm";
import { execute } from "../db/execute.js";
import { toJson, toNumber } from "../db/queries/decode.js";
import { recomputeStats } from "./aggregates.js";
import { chunk, forUpdate, placeholders } from "./sql-params.js";
import type { IndexScope } from "./tag-indexer.js";

interface TagState {
  repositoryExists: boolean;
  /** The tag's kind; undefined when the tag is not indexed. */
  kind: string | undefined;
  /** Referenced blobs (ref_count > 0) among the watched digests: count and bytes. */
  blobCount: number;
  blobBytes: number;
}

export class TagStatsWatch {
  private constructor(
    private readonly scope: IndexScope,
    private readonly repository: string,
    private readonly tag: string,
    private readonly digests: readonly string[],
    private readonly before: TagState,
  ) {}

  /**
   * Reads the state the write may change. `newBlobs` are the blob digests of the manifest the
   * tag is about to point to (none for a delete); the blobs of its current manifest are read here.
   */
  static async begin(m: EntityManager, scope: IndexScope, repository: string, tag: string, newBlobs: readonly string[] = []): Promise<TagStatsWatch> {
    const current: Array<{ blob_digest: unknown }> = await m.query(
      `SELECT mb.blob_digest FROM repositories r
JOIN tags t ON t.repository_id = r.id AND t.name = ?
JOIN manifest_blobs mb ON mb.manifest_id = t.manifest_id
WHERE r.namespace_id = ? AND r.name = ?`,
      [tag, scope.namespaceId, repository],
    );
    const digests = [...new Set([...current.map((r) => String(r.blob_digest)), ...newBlobs])];
    const before = await readState(m, scope, repository, tag, digests);
    return new TagStatsWatch(scope, repository, tag, digests, before);
  }

  /** After the write, in the same transaction: adds the difference to registry_stats. */
  async apply(m: EntityManager): Promise<void> {
    const stats: Array<{ kinds: unknown }> = await m.query(`SELECT kinds FROM registry_stats WHERE namespace_id = ?${forUpdate(this.scope.dialect)}`, [
      this.scope.namespaceId,
    ]);
    const kinds = toJson<Record<string, unknown>>(stats[0]?.kinds);
    // No row yet, or one no recount has filled (markSynced creates it empty): nothing to add to.
    if (kinds === null) return recomputeStats(m, this.scope);
    const after = await readState(m, this.scope, this.repository, this.tag, this.digests);
    const counts = new Map(Object.entries(kinds).map(([kind, n]) => [kind, toNumber(n)]));
    const move = (kind: string | undefined, by: number) => {
      if (kind === undefined) return;
      const n = (counts.get(kind) ?? 0) + by;
      // As recomputeStats writes it: only kinds some tag has.
      if (n > 0) counts.set(kind, n);
      else counts.delete(kind);
    };
    move(this.before.kind, -1);
    move(after.kind, 1);
    const present = (s: TagState) => (s.kind === undefined ? 0 : 1);
    await execute(
      m,
      `UPDATE registry_stats SET repository_count = repository_count + ?, tag_count = tag_count + ?, blob_count = blob_count + ?,
  total_size = total_size + ?, kinds = ? WHERE namespace_id = ?`,
      [
        Number(after.repositoryExists) - Number(this.before.repositoryExists),
        present(after) - present(this.before),
        after.blobCount - this.before.blobCount,
        after.blobBytes - this.before.blobBytes,
        JSON.stringify(Object.fromEntries(counts)),
        this.scope.namespaceId,
      ],
    );
  }
}

async function readState(m: EntityManager, scope: IndexScope, repository: string, tag: string, digests: readonly string[]): Promise<TagState> {
  const lock = forUpdate(scope.dialect);
  const rows: Array<{ kind: unknown }> = await m.query(
    `SELECT t.kind FROM repositories r LEFT JOIN tags t ON t.repository_id = r.id AND t.name = ? WHERE r.namespace_id = ? AND r.name = ?${lock}`,
    [tag, scope.namespaceId, repository],
  );
  const state: TagState = {
    repositoryExists: rows.length > 0,
    kind: rows[0]?.kind === null || rows[0]?.kind === undefined ? undefined : String(rows[0].kind),
    blobCount: 0,
    blobBytes: 0,
  };
  for (const part of chunk(digests, 1000)) {
    const blobs: Array<{ size: unknown }> = await m.query(
      `SELECT size FROM blobs WHERE namespace_id = ? AND digest IN (${placeholders(part.length)}) AND ref_count > 0${lock}`,
      [scope.namespaceId, ...part],
    );
    state.blobCount += blobs.length;
    for (const b of blobs) state.blobBytes += toNumber(b.size);
  }
  return state;
}
