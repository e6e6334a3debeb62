import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

export interface RepositoryRow {
  id: number;
  namespaceId: number;
  name: string;
  tagCount: number;
  /** Σ sizes of the distinct blobs reachable from the repository's tags. */
  totalSize: number;
  artifactType: string;
  kind: string;
  /** The catalog's `updatedAt` string for this repository, as last applied by a sync. */
  catalogUpdatedAt: string | null;
  /** SHA-256 of the indexed tag names, sorted, one per line (db/index/tag-set-hash.ts); NULL = unknown. */
  tagSetSha256: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const repositoryEntity = (t: ColumnTypes) =>
  defineEntity<RepositoryRow>("Repository", "repositories", {
    columns: {
      id: ["id", t.id()],
      namespaceId: ["namespace_id", t.ref()],
      name: ["name", t.key(255)],
      tagCount: ["tag_count", t.bigint()],
      totalSize: ["total_size", t.bigint()],
      artifactType: ["artifact_type", t.string(255, false, "")],
      kind: ["kind", t.string(32, false, "")],
      catalogUpdatedAt: ["catalog_updated_at", t.string(64, true)],
      tagSetSha256: ["tag_set_sha256", t.string(64, true)],
      createdAt: ["created_at", t.time()],
      updatedAt: ["updated_at", t.time()],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_repositories_namespace", "NO ACTION") },
    indices: [
      { name: "uq_repositories_namespace_name", columns: ["namespaceId", "name"], unique: true },
      { name: "ix_repositories_update_time", columns: ["namespaceId", "updatedAt", "name"] },
      { name: "ix_repositories_total_size", columns: ["namespaceId", "totalSize", "name"] },
    ],
  });
