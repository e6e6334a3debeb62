import { randomUUID } from "node:crypto";
import { failedPrecondition, unavailable } from "../errors.js";
import type { Database } from "./data-source.js";
import { adoptionUnfinished } from "./epoch-adoption/adoption-state.js";
import { Leases } from "./leases.js";
import { buildTable, initialTables } from "./migrations/1763900000000-initial-schema.js";

export const MIGRATION_LEASE = "migration";
const MIGRATIONS_TABLE = "epoch_meta_migrations";

export interface MigrateOptions {
  dryRun?: boolean;
  /** Identifies this process in the lease row. */
  holder?: string;
  leaseTtlMs?: number;
  /** How long to wait for another replica's migration to finish. */
  waitMs?: number;
}

export interface MigrateResult {
  applied: string[];
  pending: string[];
}

async function executedNames(db: Database): Promise<Set<string>> {
  const runner = db.ds.createQueryRunner();
  try {
    if (!(await runner.hasTable(MIGRATIONS_TABLE))) return new Set();
    const rows: Array<{ name: string }> = await runner.query(`SELECT name FROM ${MIGRATIONS_TABLE}`);
    return new Set(rows.map((r) => r.name));
  } finally {
    await runner.release();
  }
}

export async function pendingMigrations(db: Database): Promise<string[]> {
  const done = await executedNames(db);
  return db.ds.migrations.map((m) => m.name ?? m.constructor.name).filter((n) => !done.has(n));
}

/**
 * Epoch (cocoonstack/epoch) keeps `repositories`/`tokens` without our namespace column; a
 * `migrate --from-epoch` that has not finished counts too (its data is only half copied).
 */
export async function holdsEpochTables(db: Database): Promise<boolean> {
  const runner = db.ds.createQueryRunner();
  try {
    if (await adoptionUnfinished(runner)) return true;
    if ((await executedNames(db)).size > 0) return false;
    for (const table of ["tokens", "repositories"]) {
      if ((await runner.hasTable(table)) && !(await runner.hasColumn(table, "namespace_id"))) return true;
    }
    return false;
  } finally {
    await runner.release();
  }
}

async function refuseEpochDatabase(db: Database): Promise<void> {
  if (await holdsEpochTables(db)) {
    throw failedPrecondition(
      "the database holds Epoch's tables (or an unfinished adoption of them): stop Epoch's writers, back up, then run `epoch-meta migrate --from-epoch`",
      "DATABASE_NOT_MIGRATED",
    );
  }
}

/** The lease table must exist before the first migration can be taken under the lease. */
export async function ensureCoordinationTable(db: Database): Promise<void> {
  const runner = db.ds.createQueryRunner();
  try {
    await runner.createTable(buildTable("coordination", initialTables(db.dialect).coordination), true);
  } catch (e) {
    // Two replicas may race to create it; the loser finds it there.
    if (!(await runner.hasTable("coordination"))) throw e;
  } finally {
    await runner.release();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Applies pending migrations under the migration lease, so replicas starting together are
 * safe: one migrates, the others wait and then find nothing pending.
 */
export async function migrate(db: Database, opts: MigrateOptions = {}): Promise<MigrateResult> {
  await refuseEpochDatabase(db);
  const pending = await pendingMigrations(db);
  if (opts.dryRun || pending.length === 0) return { applied: [], pending };

  await ensureCoordinationTable(db);
  const leases = new Leases(db);
  const holder = opts.holder ?? `migrate-${randomUUID()}`;
  const ttl = opts.leaseTtlMs ?? 30_000;
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  while (!(await leases.acquire(MIGRATION_LEASE, holder, ttl))) {
    if (Date.now() > deadline)
      throw unavailable("timed out waiting for another replica's migration lease", "DATABASE_UNAVAILABLE");
    await sleep(200);
  }
  const renew = setInterval(() => void leases.renew(MIGRATION_LEASE, holder, ttl).catch(() => undefined), ttl / 3);
  try {
    const ran = await db.ds.runMigrations({ transaction: "each" });
    return { applied: ran.map((m) => m.name), pending: [] };
  } finally {
    clearInterval(renew);
    await leases.release(MIGRATION_LEASE, holder).catch(() => undefined);
  }
}

/** For `serve --no-migrate`: refuse to serve an unmigrated or Epoch database. */
export async function assertMigrated(db: Database): Promise<void> {
  await refuseEpochDatabase(db);
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    throw failedPrecondition(
      `database has pending migrations (${pending.join(", ")}): run \`epoch-meta migrate\``,
      "DATABASE_NOT_MIGRATED",
    );
  }
}
