import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Pool as CallbackPool } from "mysql2";
import mysql from "mysql2/promise";
import { DataSource, QueryFailedError, type DataSourceOptions, type Logger } from "typeorm";
import { invalidArgument, unavailable } from "../errors.js";
import type { Dialect } from "./column-types.js";
import { connectionError } from "./connection-error.js";
import { entitiesFor } from "./entities/index.js";
import { migrations } from "./migrations/index.js";

export interface Database {
  ds: DataSource;
  dialect: Dialect;
  /**
   * One read-only statement outside any transaction (the list and get reads of db/queries).
   * Logged and failing like `ds.query` (TypeORM's logger, QueryFailedError). On MySQL/MariaDB it
   * goes straight to the driver's pool: `ds.query` builds a QueryRunner and an EntityManager per
   * call and goes through mysql2's promise wrapper: 0.1–0.2 ms per statement, measured beside a
   * 0.6–0.9 ms ListTags page SELECT (bench/list.ts shows the floors).
   */
  read<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** One cheap round trip; throws when the database is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLite page size for new database files (SQLite's default is 4 KiB). A sync's commit batch
 * inserts digests, which are random keys, into three indexes (manifests, blobs, the blob side of
 * manifest_blobs), so every 1000-tag batch dirties pages all over them and each dirty page costs a
 * WAL frame at commit and a copy at checkpoint. A first sync of 100k tags (bench/sync.ts)
 * measured 2.45–2.5× its I/O floor instead of 2.85–3.0×; per-statement profiles put its SQL time
 * at 10–15 s with 16–64 KiB pages against 17–23 s with 4 KiB. 16 KiB rather than 64: a batch
 * touches at most a few thousand pages however large the index grows, and a larger page makes
 * each of those frames cost more (at 300k tags 16 KiB still beats 4 KiB).
 */
export const SQLITE_PAGE_SIZE = 16_384;
/** Checkpoint after 64 MiB of WAL (SQLite's default: 1000 pages): a page rewritten by several batches is copied back once. */
export const SQLITE_CHECKPOINT_PAGES = (64 * 1024 * 1024) / SQLITE_PAGE_SIZE;

/**
 * How every MySQL/MariaDB connection of the service decodes and encodes values (exported so
 * bench/list.ts measures its reference SELECT on a bare connection set up the same way).
 */
export const MYSQL_CONNECTION_OPTIONS = {
  charset: "utf8mb4_unicode_ci",
  timezone: "Z",
  supportBigNumbers: true,
  bigNumberStrings: false,
} as const;

export interface OpenOptions {
  /** A TypeORM logger, e.g. the statement counter used by tests. */
  logger?: Logger;
  poolSize?: number;
}

interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseMysqlUrl(url: string): MysqlTarget {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database) throw invalidArgument("EPOCH_DATABASE_URL: a database name is required (mysql://user@host:3306/name)");
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database,
  };
}

/** `sqlite:./data/epoch.db`, `sqlite:/abs/path.db` or `sqlite::memory:` → a file path. */
export function sqlitePath(url: string): string {
  const rest = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  if (!rest) throw invalidArgument("EPOCH_DATABASE_URL: sqlite: needs a path (sqlite:./data/epoch.db)");
  return rest === ":memory:" ? rest : resolve(rest);
}

/**
 * MySQL and MariaDB both answer to `mysql://` URLs, but TypeORM must know which one it talks
 * to (with type "mysql", MariaDB's JSON columns are misread), so we ask the server.
 */
async function detectMysqlDialect(target: MysqlTarget): Promise<Dialect> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ ...target, connectTimeout: 5000 });
    const [rows] = await conn.query("SELECT VERSION() AS v");
    const version = String((rows as Array<{ v: string }>)[0]?.v ?? "");
    return /mariadb/i.test(version) ? "mariadb" : "mysql";
  } catch (e) {
    throw connectionError(e, target);
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

export async function openDatabase(url: string, opts: OpenOptions = {}): Promise<Database> {
  const common = {
    entities: [] as DataSourceOptions["entities"],
    migrations,
    migrationsTableName: "epoch_meta_migrations",
    migrationsTransactionMode: "each" as const,
    logger: opts.logger,
    logging: opts.logger ? (["query", "error"] as ("query" | "error")[]) : false,
  };
  let options: DataSourceOptions;
  let dialect: Dialect;
  if (url.startsWith("sqlite:")) {
    dialect = "sqlite";
    const database = sqlitePath(url);
    if (database !== ":memory:") mkdirSync(dirname(database), { recursive: true });
    options = {
      ...common,
      type: "better-sqlite3",
      database,
      entities: entitiesFor(dialect),
      // WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
      enableWAL: database !== ":memory:",
      prepareDatabase: (db: { pragma(s: string): unknown }) => {
        db.pragma("busy_timeout = 5000");
        // Runs before TypeORM switches to WAL, so a new file gets this page size (an existing one
        // keeps its own: README, "Behaviour worth knowing").
        db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
        db.pragma(`wal_autocheckpoint = ${SQLITE_CHECKPOINT_PAGES}`);
      },
    };
  } else if (url.startsWith("mysql:") || url.startsWith("mariadb:")) {
    const target = parseMysqlUrl(url.replace(/^mariadb:/, "mysql:"));
    dialect = await detectMysqlDialect(target);
    options = {
      ...common,
      type: dialect === "mariadb" ? "mariadb" : "mysql",
      host: target.host,
      port: target.port,
      username: target.user,
      password: target.password,
      database: target.database,
      entities: entitiesFor(dialect),
      ...MYSQL_CONNECTION_OPTIONS,
      poolSize: opts.poolSize ?? 10,
      connectTimeout: 5000,
    };
  } else {
    throw invalidArgument("EPOCH_DATABASE_URL: expected sqlite:<path>, mysql://… or mariadb://…");
  }
  const ds = new DataSource(options);
  try {
    await ds.initialize();
  } catch (e) {
    throw unavailable(`database is unreachable: ${(e as Error).message.split("\n")[0]}`, "DATABASE_UNAVAILABLE", {
      cause: e,
    });
  }
  return {
    ds,
    dialect,
    read: dialect === "sqlite" ? (sql, params = []) => ds.query(sql, params) : poolReader(ds),
    ping: async () => {
      await ds.query("SELECT 1");
    },
    close: async () => {
      if (ds.isInitialized) await ds.destroy();
    },
  };
}

/** `Database.read` on MySQL/MariaDB: the pool's callback API, one checkout per statement. */
function poolReader(ds: DataSource): Database["read"] {
  // TypeORM's MysqlDriver keeps the mysql2 (callback) pool it created from our options.
  const pool = (ds.driver as unknown as { pool?: CallbackPool }).pool;
  if (!pool) throw new Error("the MySQL driver has no connection pool");
  return <Row>(sql: string, params: unknown[] = []) =>
    new Promise<Row[]>((resolve, reject) => {
      ds.logger.logQuery(sql, params);
      pool.query(sql, params, (err, rows) => {
        if (!err) return resolve(rows as Row[]);
        ds.logger.logQueryError(err, sql, params);
        reject(new QueryFailedError(sql, params, err));
      });
    });
}
