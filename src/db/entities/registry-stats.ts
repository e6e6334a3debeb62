import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/** Maintained registry totals, so GetStats never scans (one row per namespace). */
export interface RegistryStatsRow {
  namespaceId: number;
  repositoryCount: number;
  tagCount: number;
  blobCount: number;
  totalSize: number;
  /** kind → tag count */
  kinds: Record<string, number> | null;
  lastSyncAt: Date | null;
}

export const registryStatsEntity = (t: ColumnTypes) =>
  defineEntity<RegistryStatsRow>("RegistryStats", "registry_stats", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      repositoryCount: ["repository_count", t.bigint()],
      tagCount: ["tag_count", t.bigint()],
      blobCount: ["blob_count", t.bigint()],
      totalSize: ["total_size", t.bigint()],
      kinds: ["kinds", t.json()],
      lastSyncAt: ["last_sync_at", t.time(true)],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_registry_stats_namespace", "NO ACTION") },
  });
