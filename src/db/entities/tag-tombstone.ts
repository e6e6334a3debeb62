import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/**
 * A tag DeleteTag removed, and when (database clock). A sync that read the catalog before that
 * moment may have fetched the tag already: its commit skips it, so a deleted tag stays deleted.
 * Keyed by names, not ids: the repository row may go with its last tag.
 */
export interface TagTombstoneRow {
  namespaceId: number;
  repository: string;
  tag: string;
  deletedAt: Date;
}

export const tagTombstoneEntity = (t: ColumnTypes) =>
  defineEntity<TagTombstoneRow>("TagTombstone", "tag_tombstones", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      repository: ["repository", { ...t.key(255), primary: true }],
      tag: ["tag", { ...t.key(128), primary: true }],
      deletedAt: ["deleted_at", t.time()],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_tag_tombstones_namespace", "NO ACTION") },
    indices: [{ name: "ix_tag_tombstones_deleted_at", columns: ["namespaceId", "deletedAt"] }],
  });
