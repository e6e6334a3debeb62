/** Label rows written straight into the label tables, many per statement (for large fixtures). */
import type { Database } from "../../src/db/data-source.js";
import { LABEL_TABLES, valueHash, type LabelKind, type LabelOwner } from "../../src/db/labels/label-tables.js";

export async function seedLabels(
  db: Database,
  kind: LabelKind,
  rows: ReadonlyArray<{ owner: LabelOwner; labels: Record<string, string> }>,
): Promise<void> {
  const { table, owner } = LABEL_TABLES[kind];
  const columns = [...owner, "label_key", "label_value", "value_sha256"];
  const flat = rows.flatMap((r) => Object.entries(r.labels).map(([k, v]) => [...r.owner, k, v, valueHash(v)]));
  for (let i = 0; i < flat.length; i += 500) {
    const part = flat.slice(i, i + 500);
    const row = `(${columns.map(() => "?").join(", ")})`;
    await db.ds.query(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${part.map(() => row).join(", ")}`,
      part.flat(),
    );
  }
}
