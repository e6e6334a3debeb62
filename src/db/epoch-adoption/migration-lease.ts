/**
 * Runs `fn` holding the migration lease (the one `migrate` takes, so replicas starting meanwhile
 * wait), renewed in the background. A test's simulated crash leaves the lease held, as a killed
 * process would; the next run then waits for it to expire.
 */
import { randomUUID } from "node:crypto";
import { unavailable } from "../../errors.js";
import type { Database } from "../data-source.js";
import { Leases } from "../leases.js";
import { ensureCoordinationTable, MIGRATION_LEASE } from "../migrate.js";
import { SimulatedAdoptionCrash } from "./fault-points.js";

export interface LeaseOptions {
  holder?: string;
  leaseTtlMs?: number;
  /** How long to wait for a lease held by another process. */
  waitMs?: number;
  log?: (line: string) => void;
}

export async function withMigrationLease<T>(
  db: Database,
  opts: LeaseOptions,
  fn: (leases: Leases, holder: string) => Promise<T>,
): Promise<T> {
  await ensureCoordinationTable(db);
  const leases = new Leases(db);
  const holder = opts.holder ?? `adopt-${randomUUID()}`;
  const ttl = opts.leaseTtlMs ?? 30_000;
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  let told = false;
  while (!(await leases.acquire(MIGRATION_LEASE, holder, ttl))) {
    if (Date.now() > deadline) {
      throw unavailable(
        "timed out waiting for the migration lease: another process is migrating, or one was killed less than a lease TTL ago",
        "DATABASE_UNAVAILABLE",
      );
    }
    if (!told)
      opts.log?.("waiting for the migration lease (held by another process, or by a killed run until it expires)");
    told = true;
    await new Promise((r) => setTimeout(r, 500));
  }
  const renew = setInterval(() => void leases.renew(MIGRATION_LEASE, holder, ttl).catch(() => undefined), ttl / 3);
  let crashed = false;
  try {
    return await fn(leases, holder);
  } catch (e) {
    crashed = e instanceof SimulatedAdoptionCrash;
    throw e;
  } finally {
    clearInterval(renew);
    if (!crashed) await leases.release(MIGRATION_LEASE, holder).catch(() => undefined);
  }
}
