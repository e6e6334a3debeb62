import type { Database } from "../data-source.js";

/** The id of a namespace by name, or undefined. Ids never change, so callers may cache them. */
export async function namespaceIdOf(db: Database, name: string): Promise<number | undefined> {
  const rows: Array<{ id: unknown }> = await db.read("SELECT id FROM namespaces WHERE name = ?", [name]);
  return rows[0] ? Number(rows[0].id) : undefined;
}
