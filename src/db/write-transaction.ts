/**
 * Short write transactions for the index writers (sync commits, IndexTag, DeleteTag).
 *
 * SQLite (better-sqlite3) has one connection per DataSource, and TypeORM turns a second
 * concurrent `transaction()` into a SAVEPOINT of the first, so two interleaved async writers
 * would commit or roll back each other's work. On SQLite every writer here therefore queues
 * behind the previous one. On MariaDB a deadlock or lock-wait timeout is retried a few times.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "./data-source.js";

const queues = new WeakMap<object, Promise<unknown>>();

/** Runs `fn` after every earlier serialized call on this database (SQLite only; MariaDB runs it at once). */
export function serialized<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  if (db.dialect !== "sqlite") return fn();
  const previous = queues.get(db.ds) ?? Promise.resolve();
  const result = previous.then(fn, fn);
  queues.set(
    db.ds,
    result.catch(() => undefined),
  );
  return result;
}

const RETRYABLE = new Set(["ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT"]);

function isLockConflict(e: unknown): boolean {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = err?.code ?? err?.driverError?.code;
  return typeof code === "string" && RETRYABLE.has(code);
}

export interface WriteTransactionOptions {
  /** Tries on a MariaDB deadlock or lock-wait timeout (default 3). */
  attempts?: number;
  /**
   * SQLite only: commit without waiting for fsync (WAL with synchronous=NORMAL, for this
   * transaction only). Safe for writes a later durable transaction vouches for: the sync's tag
   * batches are followed by its final (synchronous=FULL) stats transaction, whose WAL fsync also
   * makes every earlier frame durable; a power cut before it loses batches exactly as a crash
   * mid-run would, and the next run repairs that. Token writes never use it: a revocation must
   * not come back after a power cut.
   */
  deferFsync?: boolean;
  /**
   * MariaDB only: READ COMMITTED, so every statement reads what is committed now rather than the
   * transaction's first snapshot (the GC's marking re-check, after it waited for a row lock).
   * SQLite's single writer needs no such thing.
   */
  isolation?: "READ COMMITTED";
}

/** What runs once a transaction has committed, by its EntityManager (see `afterCommit`). */
const committedHooks = new WeakMap<EntityManager, Array<() => void>>();

/**
 * Runs `hook` once the writeTransaction that owns `m` has committed (never after a rollback or a
 * retried attempt). Outside a writeTransaction the hook never runs.
 */
export function afterCommit(m: EntityManager, hook: () => void): void {
  committedHooks.get(m)?.push(hook);
}

export async function writeTransaction<T>(
  db: Database,
  fn: (manager: EntityManager) => Promise<T>,
  opts: WriteTransactionOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 3;
  const isolation = db.dialect === "sqlite" ? undefined : opts.isolation;
  for (let attempt = 1; ; attempt++) {
    const hooks: Array<() => void> = [];
    const body = (m: EntityManager) => {
      committedHooks.set(m, hooks);
      return fn(m);
    };
    const run =
      opts.deferFsync && db.dialect === "sqlite"
        ? () => withoutFsync(db, () => db.ds.transaction(body))
        : isolation
          ? () => db.ds.transaction(isolation, body)
          : () => db.ds.transaction(body);
    try {
      const result = await serialized(db, run);
      for (const hook of hooks) hook();
      return result;
    } catch (e) {
      if (attempt >= attempts || !isLockConflict(e)) throw e;
    }
  }
}

/** Inside the serialized section, so no other writer's transaction commits under NORMAL. */
async function withoutFsync<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  await db.ds.query("PRAGMA synchronous = NORMAL");
  try {
    return await fn();
  } finally {
    await db.ds.query("PRAGMA synchronous = FULL");
  }
}
