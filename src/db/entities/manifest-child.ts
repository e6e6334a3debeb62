import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/** An index manifest's link to one of its children (by digest, in index order). */
export interface ManifestChildRow {
  parentId: number;
  position: number;
  childDigest: string;
  /** "os/architecture[/variant]" from the index entry, or "". */
  platform: string;
}

export const manifestChildEntity = (t: ColumnTypes) =>
  defineEntity<ManifestChildRow>("ManifestChild", "manifest_children", {
    columns: {
      parentId: ["parent_id", { ...t.ref(), primary: true }],
      position: ["position", { ...t.int(), default: undefined, primary: true }],
      childDigest: ["child_digest", t.key(71)],
      platform: ["platform", t.string(255, false, "")],
    },
    relations: { parent: manyToOne("Manifest", "parent_id", "fk_manifest_children_parent", "CASCADE") },
    // The garbage collector asks which indexes hold a child (migration 1766600000000-gc).
    indices: [{ name: "ix_manifest_children_child", columns: ["childDigest"] }],
  });
