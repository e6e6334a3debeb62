/**
 * What every adoption step gets: the database, Epoch's tables, the default namespace, and
 * `fenced` — a write transaction that first proves this process still holds the migration lease,
 * so a paused adopter that lost it never writes after another one took over.
 */
import type { EntityManager } from "typeorm";
import { aborted } from "../../errors.js";
import { writeTransaction } from "../write-transaction.js";
import type { Database } from "../data-source.js";
import type { Leases } from "../leases.js";
import { MIGRATION_LEASE } from "../migrate.js";
import type { EpochSchema } from "./epoch-tables.js";

export interface StepContext {
  db: Database;
  schema: EpochSchema;
  namespaceId: number;
  /** Epoch tags per copy transaction. */
  batchSize: number;
  log(line: string): void;
  fenced<T>(fn: (m: EntityManager) => Promise<T>): Promise<T>;
}

export function fencedWith(db: Database, leases: Leases, holder: string) {
  return <T>(fn: (m: EntityManager) => Promise<T>): Promise<T> =>
    writeTransaction(db, async (m) => {
      if (!(await leases.fence(m, MIGRATION_LEASE, holder, 0))) {
        throw aborted(
          "this adoption lost the migration lease (another process took over); it wrote nothing more",
          "LEASE_LOST",
        );
      }
      return fn(m);
    });
}
