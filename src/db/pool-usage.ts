/**
 * How busy the database connections are, for the metrics scrape (epoch_db_pool_*).
 *
 * MySQL/MariaDB: mysql2's pool keeps its connections in `_allConnections`, `_freeConnections`
 * and `_connectionQueue` (waiting requests) and has no public accessor for them; if a mysql2
 * release renames them, the answer is undefined and the gauges go absent rather than wrong.
 * SQLite: better-sqlite3 is one connection, active while a transaction is open on it.
 */
import type { Database } from "./data-source.js";

export interface PoolUsage {
  active: number;
  idle: number;
  /** Requests waiting for a connection. */
  waiting: number;
  max: number;
}

interface Mysql2PoolInternals {
  _allConnections?: { length: number };
  _freeConnections?: { length: number };
  _connectionQueue?: { length: number };
  config?: { connectionLimit?: number };
}

export function poolUsage(db: Database): PoolUsage | undefined {
  const driver = db.ds.driver as unknown as {
    pool?: Mysql2PoolInternals;
    databaseConnection?: { open?: boolean; inTransaction?: boolean };
  };
  if (db.dialect === "sqlite") {
    const connection = driver.databaseConnection;
    if (!connection?.open) return undefined;
    const active = connection.inTransaction ? 1 : 0;
    return { active, idle: 1 - active, waiting: 0, max: 1 };
  }
  const pool = driver.pool;
  const all = pool?._allConnections?.length;
  const free = pool?._freeConnections?.length;
  const queued = pool?._connectionQueue?.length;
  if (all === undefined || free === undefined || queued === undefined) return undefined;
  return { active: all - free, idle: free, waiting: queued, max: pool?.config?.connectionLimit ?? all };
}
