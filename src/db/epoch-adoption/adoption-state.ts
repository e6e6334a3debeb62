/**
 * How far `migrate --from-epoch` got, in one `coordination` row: an interrupted adoption resumes
 * at the first step not recorded, and `migrate`/`serve` refuse a database whose adoption is
 * unfinished (db/migrate.ts asks `adoptionUnfinished`). Data steps record themselves in their own
 * transaction, so a step is either committed and recorded or neither.
 */
import type { EntityManager, QueryRunner } from "typeorm";
import { aborted } from "../../errors.js";
import { execute } from "../sql/execute.js";

export const ADOPTION_ROW = "epoch_adoption";
/** The last Epoch tag id copied by the catalog step (it commits in batches). */
export const ADOPTION_CURSOR_ROW = "epoch_adoption_cursor";

/** In order; the row's `value` is the index of the last one completed. */
export const ADOPTION_STEPS = ["started", "renamed", "schema", "tokens", "catalog", "blobs", "aggregates"] as const;
export type AdoptionStep = (typeof ADOPTION_STEPS)[number];
export const LAST_STEP: AdoptionStep = "aggregates";

export const stepIndex = (step: AdoptionStep): number => ADOPTION_STEPS.indexOf(step);

type Querier = Pick<QueryRunner, "query" | "hasTable">;

/** The last completed step, or null when no adoption was ever started here. */
export async function readAdoptionStep(runner: Querier): Promise<AdoptionStep | null> {
  if (!(await runner.hasTable("coordination"))) return null;
  const rows: Array<{ value: unknown }> = await runner.query("SELECT value FROM coordination WHERE name = ?", [
    ADOPTION_ROW,
  ]);
  if (!rows[0]) return null;
  return ADOPTION_STEPS[Number(rows[0].value)] ?? null;
}

/** True while an adoption is started and not finished: the database must not be served. */
export async function adoptionUnfinished(runner: Querier): Promise<boolean> {
  const step = await readAdoptionStep(runner);
  return step !== null && step !== LAST_STEP;
}

/** Moves the record from `from` to `to`; anything else means another adopter got here first. */
export async function recordStep(on: EntityManager | QueryRunner, from: AdoptionStep, to: AdoptionStep): Promise<void> {
  const matched = await execute(on, "UPDATE coordination SET value = ? WHERE name = ? AND value = ?", [
    stepIndex(to),
    ADOPTION_ROW,
    stepIndex(from),
  ]);
  if (matched !== 1)
    throw aborted(`the adoption record moved away from step "${from}" while this process worked on it`, "LEASE_LOST");
}

export async function readCursor(on: EntityManager | QueryRunner): Promise<number> {
  const rows: Array<{ value: unknown }> = await on.query("SELECT value FROM coordination WHERE name = ?", [
    ADOPTION_CURSOR_ROW,
  ]);
  return rows[0] ? Number(rows[0].value) : 0;
}

export async function writeCursor(on: EntityManager, lastTagId: number): Promise<void> {
  await execute(on, "INSERT IGNORE INTO coordination (name, value, holder, expires_at) VALUES (?, 0, '', NULL)", [
    ADOPTION_CURSOR_ROW,
  ]);
  await execute(on, "UPDATE coordination SET value = ? WHERE name = ?", [lastTagId, ADOPTION_CURSOR_ROW]);
}
