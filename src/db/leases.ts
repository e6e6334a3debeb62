import type { EntityManager } from "typeorm";
import { ensureCoordinationRow } from "./coordination.js";
import type { Database } from "./data-source.js";
import { execute } from "./sql/execute.js";
import { sqlNow, sqlNowPlusMs } from "./sql/sql.js";

/**
 * Leases in `coordination` rows, taken and renewed with conditional UPDATEs against the
 * database clock. Works on every dialect and on Galera/TiDB/Vitess (no GET_LOCK, which is
 * bound to a pooled connection). `value` carries the owner's run id for fencing.
 */
export class Leases {
  constructor(private readonly db: Database) {}

  /** Takes the lease if it is free, expired, or already ours. */
  async acquire(name: string, holder: string, ttlMs: number, value = 0): Promise<boolean> {
    await ensureCoordinationRow(this.db.ds, this.db.dialect, name);
    const d = this.db.dialect;
    const matched = await execute(
      this.db.ds,
      `UPDATE coordination SET holder = ?, value = ?, expires_at = ${sqlNowPlusMs(d)}
       WHERE name = ? AND (holder = '' OR expires_at IS NULL OR expires_at < ${sqlNow(d)} OR holder = ?)`,
      [holder, value, ttlMs, name, holder],
    );
    return matched === 1;
  }

  /** Extends our lease; false when it was lost (taken over after expiry). */
  async renew(name: string, holder: string, ttlMs: number, value = 0): Promise<boolean> {
    const matched = await execute(
      this.db.ds,
      `UPDATE coordination SET expires_at = ${sqlNowPlusMs(this.db.dialect)} WHERE name = ? AND holder = ? AND value = ?`,
      [ttlMs, name, holder, value],
    );
    return matched === 1;
  }

  /** Stores `value` (a run id) in our lease row, so later fences check it too. */
  async setValue(name: string, holder: string, value: number): Promise<void> {
    await execute(this.db.ds, "UPDATE coordination SET value = ? WHERE name = ? AND holder = ?", [value, name, holder]);
  }

  async release(name: string, holder: string): Promise<void> {
    await execute(this.db.ds, `UPDATE coordination SET holder = '', expires_at = NULL WHERE name = ? AND holder = ?`, [
      name,
      holder,
    ]);
  }

  /**
   * Inside a write transaction: proves we still hold the lease (and locks its row until
   * commit), so a paused replica that lost it never writes. False = lost.
   */
  async fence(manager: EntityManager, name: string, holder: string, value: number): Promise<boolean> {
    const matched = await execute(
      manager,
      `UPDATE coordination SET holder = holder WHERE name = ? AND holder = ? AND value = ? AND expires_at >= ${sqlNow(this.db.dialect)}`,
      [name, holder, value],
    );
    return matched === 1;
  }

  async read(name: string): Promise<{ holder: string; value: number; expired: boolean } | null> {
    const rows: Array<{ holder: string; value: number | string; expired: number | string }> = await this.db.ds.query(
      `SELECT holder, value, CASE WHEN expires_at IS NULL OR expires_at < ${sqlNow(this.db.dialect)} THEN 1 ELSE 0 END AS expired FROM coordination WHERE name = ?`,
      [name],
    );
    const row = rows[0];
    return row ? { holder: row.holder, value: Number(row.value), expired: Number(row.expired) === 1 } : null;
  }
}
