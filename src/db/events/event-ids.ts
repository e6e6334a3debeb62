/**
 * Event ids that a reader can follow without a gap (DESIGN §8.6).
 *
 * An auto-increment id is allocated when a row is inserted and becomes visible when its
 * transaction commits, so two writers can commit ids 11 and 10 in that order and a reader that
 * already passed 11 never sees 10. Here the ids come from one counter row, `events.seq`, bumped
 * by the LAST statement of the writing transaction: the UPDATE holds the row's lock until the
 * transaction ends, so the next writer's bump waits for this commit (or rollback, which also
 * undoes the bump). Ids are therefore dense and become visible in id order, on every replica,
 * and a reader that saw id n has already been able to see every id below it.
 *
 * The lock is held only from the bump to the commit (the INSERT of the rows), never across the
 * writer's own work. SQLite serializes writers anyway (db/write-transaction.ts).
 */
import type { EntityManager } from "typeorm";
import { execute } from "../sql/execute.js";

export const EVENT_SEQUENCE = "events.seq";
export const EVENTS_PRUNED = "events.pruned";

/** Reserves `count` ids inside the caller's transaction; returns the first. Call it last. */
export async function reserveEventIds(m: EntityManager, count: number): Promise<number> {
  const matched = await execute(m, "UPDATE coordination SET value = value + ? WHERE name = ?", [count, EVENT_SEQUENCE]);
  if (matched !== 1) throw new Error(`coordination row ${EVENT_SEQUENCE} is missing: run migrations`);
  const rows: Array<{ value: unknown }> = await m.query("SELECT value FROM coordination WHERE name = ?", [
    EVENT_SEQUENCE,
  ]);
  return Number(rows[0]!.value) - count + 1;
}
