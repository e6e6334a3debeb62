import type { Database } from "./data-source.js";
import { execute } from "./sql/execute.js";
import { insertIgnore } from "./sql/sql.js";

/**
 * A named counter in `coordination` that replicas poll (e.g. the token-cache generation:
 * every replica drops its cache when it moves).
 */
export class GenerationCounter {
  constructor(
    private readonly db: Database,
    readonly name: string,
  ) {}

  async read(): Promise<number> {
    const rows: Array<{ value: number | string }> = await this.db.ds.query(
      "SELECT value FROM coordination WHERE name = ?",
      [this.name],
    );
    return rows[0] ? Number(rows[0].value) : 0;
  }

  async bump(): Promise<void> {
    await execute(
      this.db.ds,
      `${insertIgnore(this.db.dialect)} INTO coordination (name, value, holder, expires_at) VALUES (?, 0, '', NULL)`,
      [this.name],
    );
    await execute(this.db.ds, "UPDATE coordination SET value = value + 1 WHERE name = ?", [this.name]);
  }
}
