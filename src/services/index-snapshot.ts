/** What the plan compares the catalog with: every indexed repository and tag (small columns only). */
import type { Database } from "../db/data-source.js";
import { toBool, toNumber } from "../db/queries/decode.js";
import type { IndexedRepository } from "./sync-plan.js";
import type { IndexScope } from "./tag-indexer.js";

export async function loadIndexSnapshot(db: Database, scope: IndexScope, catalogReadAt: unknown): Promise<Map<string, IndexedRepository>> {
  const repos: Array<Record<string, unknown>> = await db.ds.query("SELECT id, name, catalog_updated_at FROM repositories WHERE namespace_id = ?", [
    scope.namespaceId,
  ]);
  const byId = new Map<number, IndexedRepository>();
  const byName = new Map<string, IndexedRepository>();
  for (const r of repos) {
    const repo: IndexedRepository = {
      id: toNumber(r.id),
      name: String(r.name),
      catalogUpdatedAt: r.catalog_updated_at === null || r.catalog_updated_at === undefined ? null : String(r.catalog_updated_at),
      tags: new Map(),
    };
    byId.set(repo.id, repo);
    byName.set(repo.name, repo);
  }
  const tags: Array<Record<string, unknown>> = await db.ds.query(
    `SELECT t.repository_id, t.name, t.digest, t.total_size, t.object_etag, t.incomplete, CASE WHEN t.indexed_at > ? THEN 1 ELSE 0 END AS newer
FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.namespace_id = ?`,
    [catalogReadAt, scope.namespaceId],
  );
  for (const t of tags) {
    byId.get(toNumber(t.repository_id))?.tags.set(String(t.name), {
      digest: String(t.digest),
      totalSize: toNumber(t.total_size),
      objectEtag: t.object_etag === null || t.object_etag === undefined ? null : String(t.object_etag),
      incomplete: toBool(t.incomplete),
      newerThanCatalog: toNumber(t.newer) === 1,
    });
  }
  return byName;
}

/** True when the index holds no repository (a missing catalog then means an empty registry). */
export async function indexIsEmpty(db: Database, scope: IndexScope): Promise<boolean> {
  const rows: unknown[] = await db.ds.query("SELECT 1 FROM repositories WHERE namespace_id = ? LIMIT 1", [scope.namespaceId]);
  return rows.length === 0;
}

/** The maintained tag count (a catalog answering 304 leaves every indexed tag unchanged). */
export async function indexedTagCount(db: Database, scope: IndexScope): Promise<number> {
  const rows: Array<{ n: unknown }> = await db.ds.query("SELECT tag_count AS n FROM registry_stats WHERE namespace_id = ?", [scope.namespaceId]);
  return toNumber(rows[0]?.n);
}
