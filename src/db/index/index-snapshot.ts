/** What the plan compares the catalog with: the indexed repositories and, where needed, their tags (small columns only). */
import type { Database } from "../data-source.js";
import { toBool, toNumber, toTextOrNull } from "../sql/decode.js";
import { chunk, placeholders } from "../sql/sql-params.js";
import type { IndexScope } from "./index-scope.js";

export interface IndexedTag {
  digest: string;
  totalSize: number;
  objectEtag: string | null;
  incomplete: boolean;
  /** Written (by IndexTag) after this run read the catalog: never removed by it. */
  newerThanCatalog: boolean;
}

export interface IndexedRepository {
  id: number;
  name: string;
  catalogUpdatedAt: string | null;
  /** The stored hash of its tag names (tag-set-hash.ts); null when unknown or when a tag is incomplete. */
  tagSetSha256: string | null;
  /** Its maintained tag count. */
  tagCount: number;
  /**
   * Its tag rows; empty when `unchanged`: the catalog's updatedAt and tag-set hash match the
   * stored ones, so its rows were not read (and, with the hash set, none is incomplete).
   */
  tags: Map<string, IndexedTag>;
  unchanged?: boolean;
}

/** Every indexed repository, without its tags (loadIndexSnapshot adds them). */
export async function loadIndexedRepositories(
  db: Database,
  scope: IndexScope,
): Promise<Map<string, IndexedRepository>> {
  const repos: Array<Record<string, unknown>> = await db.ds.query(
    "SELECT id, name, catalog_updated_at, tag_set_sha256, tag_count FROM repositories WHERE namespace_id = ?",
    [scope.namespaceId],
  );
  const byName = new Map<string, IndexedRepository>();
  for (const r of repos) {
    byName.set(String(r.name), {
      id: toNumber(r.id),
      name: String(r.name),
      catalogUpdatedAt: toTextOrNull(r.catalog_updated_at),
      tagSetSha256: toTextOrNull(r.tag_set_sha256),
      tagCount: toNumber(r.tag_count),
      tags: new Map(),
    });
  }
  return byName;
}

/**
 * Adds the tag rows (small columns only) of every repository except the `unchanged` ones, which
 * are marked instead: a catalog with one changed repository costs the rows of that one.
 */
export async function loadIndexSnapshot(
  db: Database,
  scope: IndexScope,
  catalogReadAt: unknown,
  repositories: Map<string, IndexedRepository>,
  unchanged: ReadonlySet<string>,
): Promise<Map<string, IndexedRepository>> {
  const byId = new Map<number, IndexedRepository>();
  for (const repo of repositories.values()) {
    if (unchanged.has(repo.name)) repo.unchanged = true;
    else byId.set(repo.id, repo);
  }
  const columns =
    "t.repository_id, t.name, t.digest, t.total_size, t.object_etag, t.incomplete, CASE WHEN t.indexed_at > ? THEN 1 ELSE 0 END AS newer";
  const reads: Array<{ sql: string; params: unknown[] }> = [];
  if (unchanged.size === 0) {
    // Everything: one pass over the namespace's tags.
    reads.push({
      sql: `SELECT ${columns} FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.namespace_id = ?`,
      params: [catalogReadAt, scope.namespaceId],
    });
  } else {
    for (const ids of chunk([...byId.keys()], 500)) {
      reads.push({
        sql: `SELECT ${columns} FROM tags t WHERE t.repository_id IN (${placeholders(ids.length)})`,
        params: [catalogReadAt, ...ids],
      });
    }
  }
  for (const { sql, params } of reads) {
    const tags: Array<Record<string, unknown>> = await db.ds.query(sql, params);
    for (const t of tags) {
      byId.get(toNumber(t.repository_id))?.tags.set(String(t.name), {
        digest: String(t.digest),
        totalSize: toNumber(t.total_size),
        objectEtag: toTextOrNull(t.object_etag),
        incomplete: toBool(t.incomplete),
        newerThanCatalog: toNumber(t.newer) === 1,
      });
    }
  }
  return repositories;
}

/** True when the index holds no repository (a missing catalog then means an empty registry). */
export async function indexIsEmpty(db: Database, scope: IndexScope): Promise<boolean> {
  const rows: unknown[] = await db.ds.query("SELECT 1 FROM repositories WHERE namespace_id = ? LIMIT 1", [
    scope.namespaceId,
  ]);
  return rows.length === 0;
}

/** The maintained tag count (a catalog answering 304 leaves every indexed tag unchanged). */
export async function indexedTagCount(db: Database, scope: IndexScope): Promise<number> {
  const rows: Array<{ n: unknown }> = await db.ds.query(
    "SELECT tag_count AS n FROM registry_stats WHERE namespace_id = ?",
    [scope.namespaceId],
  );
  return toNumber(rows[0]?.n);
}
