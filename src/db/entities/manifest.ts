import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

export interface PlatformSizeJson {
  digest: string;
  size: number;
  layerCount: number;
  os?: string;
  architecture?: string;
  variant?: string;
}

/** One manifest by digest; many tags may share it. */
export interface ManifestRow {
  id: number;
  namespaceId: number;
  digest: string;
  mediaType: string;
  artifactType: string;
  kind: string;
  json: string;
  totalSize: number;
  layerCount: number;
  platformSizes: PlatformSizeJson[] | null;
}

export const manifestEntity = (t: ColumnTypes) =>
  defineEntity<ManifestRow>("Manifest", "manifests", {
    columns: {
      id: ["id", t.id()],
      namespaceId: ["namespace_id", t.ref()],
      digest: ["digest", t.key(71)],
      mediaType: ["media_type", t.string(255, false, "")],
      artifactType: ["artifact_type", t.string(255, false, "")],
      kind: ["kind", t.string(32, false, "")],
      json: ["json", t.text()],
      totalSize: ["total_size", t.bigint()],
      layerCount: ["layer_count", t.int()],
      platformSizes: ["platform_sizes", t.json()],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_manifests_namespace", "NO ACTION") },
    indices: [{ name: "uq_manifests_namespace_digest", columns: ["namespaceId", "digest"], unique: true }],
  });
