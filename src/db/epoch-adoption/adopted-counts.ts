/** What an adoption left in epoch-meta's tables, beside what Epoch had (the summary it prints). */
import type { Database } from "../data-source.js";
import { toNumber } from "../sql/decode.js";
import { countEpochRows } from "./epoch-rows.js";
import { legacyTablesIn } from "./database-state.js";
import { LEGACY_PREFIX, readColumns, type EpochSchema } from "./epoch-tables.js";

export interface AdoptedCounts {
  /** Epoch's rows, when its tables are still there (null after --drop-legacy). */
  epoch: Record<"repositories" | "tags" | "blobs" | "tokens", number> | null;
  tokens: number;
  repositories: number;
  tags: number;
  manifests: number;
  /** Index manifests without blob edges: the first sync reads their children. */
  indexesAwaitingSync: number;
  /** Referenced blobs (ref_count > 0) and all blob rows. */
  referencedBlobs: number;
  blobs: number;
}

export async function countAdopted(db: Database, schema: EpochSchema): Promise<AdoptedCounts> {
  const n = async (sql: string): Promise<number> => toNumber(((await db.ds.query(sql)) as Array<{ n: unknown }>)[0]?.n);
  const legacy = legacyTablesIn(await readColumns(db)).length === 4;
  return {
    epoch: legacy ? await countEpochRows(db, { ...schema, prefix: LEGACY_PREFIX }) : null,
    tokens: await n("SELECT COUNT(*) AS n FROM tokens"),
    repositories: await n("SELECT COUNT(*) AS n FROM repositories"),
    tags: await n("SELECT COUNT(*) AS n FROM tags"),
    manifests: await n("SELECT COUNT(*) AS n FROM manifests"),
    indexesAwaitingSync: await n(
      "SELECT COUNT(*) AS n FROM manifests m WHERE m.platform_sizes IS NOT NULL AND NOT EXISTS (SELECT 1 FROM manifest_blobs e WHERE e.manifest_id = m.id)",
    ),
    referencedBlobs: await n("SELECT COUNT(*) AS n FROM blobs WHERE ref_count > 0"),
    blobs: await n("SELECT COUNT(*) AS n FROM blobs"),
  };
}
