import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

export interface BlobRow {
  namespaceId: number;
  digest: string;
  size: number;
  mediaType: string;
  /** Number of tags whose distinct config+layer set contains this blob (Epoch's rule). */
  refCount: number;
}

export const blobEntity = (t: ColumnTypes) =>
  defineEntity<BlobRow>("Blob", "blobs", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      digest: ["digest", { ...t.key(71), primary: true }],
      size: ["size", t.bigint()],
      mediaType: ["media_type", t.string(255, false, "")],
      refCount: ["ref_count", t.bigint()],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_blobs_namespace", "NO ACTION") },
  });
