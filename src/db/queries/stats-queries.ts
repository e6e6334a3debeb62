/** Reads the maintained `registry_stats` row (one per namespace): GetStats never scans. */
import type { Database } from "../data-source.js";
import { toDateOrNull, toJson, toNumber } from "../sql/decode.js";
import type { StatsRecord } from "./records.js";

export async function readStats(db: Database, namespaceId: number): Promise<StatsRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(
    `SELECT s.repository_count, s.tag_count, s.blob_count, s.total_size, s.kinds, s.last_sync_at
FROM registry_stats s
WHERE s.namespace_id = ?`,
    [namespaceId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const kinds = toJson<Record<string, unknown>>(row.kinds) ?? {};
  return {
    repositoryCount: toNumber(row.repository_count),
    tagCount: toNumber(row.tag_count),
    blobCount: toNumber(row.blob_count),
    totalSize: toNumber(row.total_size),
    lastSyncAt: toDateOrNull(row.last_sync_at),
    kinds: Object.entries(kinds).map(([kind, count]) => ({ kind, tagCount: toNumber(count) })),
  };
}
