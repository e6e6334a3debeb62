/**
 * Epoch's tables move aside as epoch_v0_* (kept, so an operator can go back to Epoch) and are
 * dropped only on `--drop-legacy`. Both are DDL, which MySQL commits at once, so each is written
 * to be run again: the rename is one atomic statement that runs only while the originals are
 * still there; the drop skips what is gone.
 */
import type { Database } from "../data-source.js";
import { EPOCH_TABLES, LEGACY_PREFIX } from "./epoch-tables.js";

async function exists(db: Database, table: string): Promise<boolean> {
  const rows: unknown[] = await db.ds.query(
    "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
    [table],
  );
  return rows.length > 0;
}

/** Returns false when an earlier run renamed them already. */
export async function renameEpochTables(db: Database): Promise<boolean> {
  if (await exists(db, `${LEGACY_PREFIX}tokens`)) return false;
  // One statement: MySQL/MariaDB rename every table or none.
  await db.ds.query(`RENAME TABLE ${EPOCH_TABLES.map((t) => `${t} TO ${LEGACY_PREFIX}${t}`).join(", ")}`);
  return true;
}

/** Drops the epoch_v0_* tables that exist; returns their names. */
export async function dropLegacyTables(db: Database): Promise<string[]> {
  const dropped: string[] = [];
  // tags first: its foreign key points at repositories.
  for (const table of ["tags", "repositories", "blobs", "tokens"].map((t) => `${LEGACY_PREFIX}${t}`)) {
    if (!(await exists(db, table))) continue;
    await db.ds.query(`DROP TABLE IF EXISTS ${table}`);
    dropped.push(table);
  }
  return dropped;
}
