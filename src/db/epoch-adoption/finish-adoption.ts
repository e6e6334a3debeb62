/**
 * The last two steps. `copyEpochBlobs` adds the blobs only Epoch's table knows (an index's
 * children's layers: Epoch never stored the children); a blob a manifest names keeps the
 * manifest's size and media type. `recomputeAdopted` derives the maintained numbers the way a
 * sync does — blob ref counts, every repository's aggregates, the registry_stats row.
 */
import { recountBlobRefs } from "../index/blob-refs.js";
import { recomputeStats } from "../index/registry-stats.js";
import { recomputeRepositories } from "../index/repository-aggregates.js";
import { execute } from "../sql/execute.js";
import { toNumber } from "../sql/decode.js";
import { recordStep } from "./adoption-state.js";
import { tableName } from "./epoch-tables.js";
import type { StepContext } from "./step-context.js";

export async function copyEpochBlobs(c: StepContext): Promise<number> {
  return c.fenced(async (m) => {
    const added = await execute(
      m,
      `INSERT IGNORE INTO blobs (namespace_id, digest, size, media_type, ref_count)
SELECT ?, CONCAT('sha256:', LOWER(digest)), size, media_type, 0 FROM ${tableName(c.schema, "blobs")}
WHERE digest REGEXP '^[0-9a-fA-F]{64}$' AND size >= 0`,
      [c.namespaceId],
    );
    await recordStep(m, "catalog", "blobs");
    return added;
  });
}

export async function recomputeAdopted(c: StepContext): Promise<void> {
  await c.fenced(async (m) => {
    await recountBlobRefs(m, c.namespaceId, "all");
    const rows: Array<{ id: unknown }> = await m.query("SELECT id FROM repositories WHERE namespace_id = ?", [
      c.namespaceId,
    ]);
    const scope = { dialect: c.db.dialect, namespaceId: c.namespaceId };
    await recomputeRepositories(
      m,
      scope,
      rows.map((r) => ({ id: toNumber(r.id) })),
    );
    await recomputeStats(m, scope);
    await recordStep(m, "blobs", "aggregates");
  });
}
