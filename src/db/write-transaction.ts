/**
 * Short write transactions for the index writers (sync commits, IndexTag, DeleteTag).
 *
 * SQLite (better-sqlite3) has one connection per DataSource, and TypeORM turns a second
 * concurrent `transaction()` into a SAVEPOINT of the first, so two interleaved async writers
 * would commit or roll back each other's work. On SQLite every writer here therefore queues
 * behind the previous one. On MariaDB a deadlock or lock-wait timeout is retried, after a random
 * pause that grows with each try.
 *
 * Sync commit batches (`oneAtATime`) also queue behind each other on MariaDB, within this
 * process: the first syncs of several namespaces create repositories at the end of the shared
 * indexes, so their locking reads of tags not indexed yet take the same end-of-index gap and
 * their inserts into it deadlock, batch after batch, faster than retries can separate them. A
 * batch is short and the fetch phases still overlap, so queueing costs a namespace little
 * (bench/sync-namespaces.ts); two replicas syncing different namespaces rely on the retries.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "./data-source.js";

const queues = new WeakMap<object, Promise<unknown>>();

/** The queue of sync commit batches on MariaDB (on SQLite they share the one writer queue). */
const batchQueues = new WeakMap<object, Promise<unknown>>();

/** Runs `fn` after every earlier serialized call on this database (SQLite only; MariaDB runs it at once). */
export function serialized<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  if (db.dialect !== "sqlite") return fn();
  return enqueue(queues, db, fn);
}

function enqueue<T>(on: WeakMap<object, Promise<unknown>>, db: Database, fn: () => Promise<T>): Promise<T> {
  const previous = on.get(db.ds) ?? Promise.resolve();
  const result = previous.then(fn, fn);
  on.set(
    db.ds,
    result.catch(() => undefined),
  );
  return result;
}

/** Tries per lock conflict: a deadlock ends at once, a lock-wait timeout took its whole timeout already. */
const DEFAULT_ATTEMPTS = { ER_LOCK_DEADLOCK: 8, ER_LOCK_WAIT_TIMEOUT: 3 } as const;

type LockConflict = keyof typeof DEFAULT_ATTEMPTS;

function lockConflictOf(e: unknown): LockConflict | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = err?.code ?? err?.driverError?.code;
  return typeof code === "string" && Object.hasOwn(DEFAULT_ATTEMPTS, code) ? (code as LockConflict) : undefined;
}

/** A random pause below 10 ms · 2^attempt (at most 1 s): writers that collided stop colliding in step. */
const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(1000, 10 * 2 ** attempt)));

export interface WriteTransactionOptions {
  /** Tries on a MariaDB deadlock or lock-wait timeout (default 8 for a deadlock, 3 for a lock-wait timeout). */
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
  /** A sync commit batch: one at a time in this process on every dialect (see above). */
  oneAtATime?: boolean;
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
    const queued = opts.oneAtATime && db.dialect !== "sqlite" ? () => enqueue(batchQueues, db, run) : run;
    try {
      const result = await serialized(db, queued);
      for (const hook of hooks) hook();
      return result;
    } catch (e) {
      const conflict = lockConflictOf(e);
      if (!conflict || attempt >= (opts.attempts ?? DEFAULT_ATTEMPTS[conflict])) throw e;
      await backoff(attempt);
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
