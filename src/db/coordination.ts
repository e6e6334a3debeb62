/**
 * Rows of `coordination`: one per named lease (leases.ts), counter (the token-cache generation:
 * tokens/token-store.ts) or progress marker, created on first use.
 */
import type { DataSource, EntityManager } from "typeorm";
import type { Dialect } from "./column-types.js";
import { execute } from "./sql/execute.js";
import { insertIgnore } from "./sql/sql.js";

export async function ensureCoordinationRow(
  on: DataSource | EntityManager,
  dialect: Dialect,
  name: string,
): Promise<void> {
  await execute(
    on,
    `${insertIgnore(dialect)} INTO coordination (name, value, holder, expires_at) VALUES (?, 0, '', NULL)`,
    [name],
  );
}

/** The row's value; 0 before the row exists. */
export async function coordinationValue(on: DataSource | EntityManager, name: string): Promise<number> {
  const rows: Array<{ value: number | string }> = await on.query("SELECT value FROM coordination WHERE name = ?", [
    name,
  ]);
  return rows[0] ? Number(rows[0].value) : 0;
}
