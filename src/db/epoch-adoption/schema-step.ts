/**
 * Creates epoch-meta's tables beside the renamed epoch_v0_* ones. The caller holds the migration
 * lease already, so this runs the migrations directly (`migrate()` would take the lease again
 * and release it when done, in the middle of the adoption).
 */
import { failedPrecondition } from "../../errors.js";
import type { Database } from "../data-source.js";
import { pendingMigrations } from "../migrate.js";
import { initialTables, InitialSchema1763900000000 } from "../migrations/1763900000000-initial-schema.js";

export async function createSchema(db: Database): Promise<string[]> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return [];
  if (pending.includes(new InitialSchema1763900000000().name)) await dropHalfCreatedTables(db);
  const ran = await db.ds.runMigrations({ transaction: "each" });
  return ran.map((m) => m.name);
}

/**
 * MySQL commits DDL statement by statement, so a kill during the initial migration leaves some
 * of its tables without the migration's record, and running it again would fail on the first
 * one. During an adoption no data step has run yet, so those tables are empty (namespaces at
 * most holds its `default` row): they go, and the migration runs whole. Rows anywhere else mean
 * someone wrote here, and we stop rather than guess.
 */
async function dropHalfCreatedTables(db: Database): Promise<void> {
  const names = Object.keys(initialTables(db.dialect))
    .filter((t) => t !== "coordination")
    .reverse();
  for (const table of names) {
    const found: unknown[] = await db.ds.query(
      "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
      [table],
    );
    if (found.length === 0) continue;
    const where = table === "namespaces" ? " WHERE name <> 'default'" : "";
    const rows: Array<{ n: unknown }> = await db.ds.query(`SELECT COUNT(*) AS n FROM ${table}${where}`);
    if (Number(rows[0]?.n) > 0) {
      throw failedPrecondition(
        `table ${table} holds rows but epoch-meta's schema was never recorded as created: inspect the database before adopting`,
        "INTERNAL",
      );
    }
    await db.ds.query(`DROP TABLE ${table}`);
  }
}
