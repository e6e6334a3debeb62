import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/**
 * A tag of a repository. digest/kind/total_size/pushed_at are copies of the manifest's
 * values so that every supported `order_by` is served by an index on this table.
 */
export interface TagRow {
  id: number;
  repositoryId: number;
  name: string;
  manifestId: number;
  digest: string;
  kind: string;
  totalSize: number;
  pushedAt: Date;
  /** ETag of the tag's manifest object when it was indexed; null forces a refetch. */
  objectEtag: string | null;
  incomplete: boolean;
  /** Database time of the last write by IndexTag or a sync. */
  indexedAt: Date;
  syncedAt: Date | null;
}

export const tagEntity = (t: ColumnTypes) =>
  defineEntity<TagRow>("Tag", "tags", {
    columns: {
      id: ["id", t.id()],
      repositoryId: ["repository_id", t.ref()],
      name: ["name", t.key(128)],
      manifestId: ["manifest_id", t.ref()],
      digest: ["digest", t.key(71)],
      kind: ["kind", t.string(32, false, "")],
      totalSize: ["total_size", t.bigint()],
      pushedAt: ["pushed_at", t.time()],
      objectEtag: ["object_etag", t.string(255, true)],
      incomplete: ["incomplete", t.bool()],
      indexedAt: ["indexed_at", t.time()],
      syncedAt: ["synced_at", t.time(true)],
    },
    relations: {
      repository: manyToOne("Repository", "repository_id", "fk_tags_repository", "CASCADE"),
      manifest: manyToOne("Manifest", "manifest_id", "fk_tags_manifest", "NO ACTION"),
    },
    indices: [
      { name: "uq_tags_repository_name", columns: ["repositoryId", "name"], unique: true },
      { name: "ix_tags_push_time", columns: ["repositoryId", "pushedAt", "name"] },
      { name: "ix_tags_total_size", columns: ["repositoryId", "totalSize", "name"] },
      { name: "ix_tags_manifest", columns: ["manifestId"] },
    ],
  });
