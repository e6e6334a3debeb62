import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/** A distinct config/layer edge of a manifest (for an index: of all its readable children). */
export interface ManifestBlobRow {
  manifestId: number;
  blobDigest: string;
}

export const manifestBlobEntity = (t: ColumnTypes) =>
  defineEntity<ManifestBlobRow>("ManifestBlob", "manifest_blobs", {
    columns: {
      manifestId: ["manifest_id", { ...t.ref(), primary: true }],
      blobDigest: ["blob_digest", { ...t.key(71), primary: true }],
    },
    relations: { manifest: manyToOne("Manifest", "manifest_id", "fk_manifest_blobs_manifest", "CASCADE") },
    indices: [{ name: "ix_manifest_blobs_blob", columns: ["blobDigest"] }],
  });
