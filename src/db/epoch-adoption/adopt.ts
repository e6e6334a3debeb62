/**
 * `migrate --from-epoch`: adopts an Epoch database in place, under the migration lease, in
 * recorded steps (adoption-state.ts) that each run again safely, so a kill at any point is
 * repaired by running it again:
 *
 *   renamed   Epoch's tables → epoch_v0_* (one atomic RENAME)
 *   schema    epoch-meta's migrations
 *   tokens    tokens, ids and hashes kept (one transaction)
 *   catalog   repositories, manifests, edges, blobs, tags (batches with a cursor)
 *   blobs     blobs only Epoch's table knows
 *   aggregates  ref counts, repository aggregates, stats
 *
 * `dryRun` plans and writes nothing; an adopted database is reported and left alone.
 */
import { failedPrecondition } from "../../errors.js";
import type { Database } from "../data-source.js";
import { DEFAULT_NAMESPACE } from "../entities/index.js";
import type { Leases } from "../leases.js";
import { namespaceIdOf } from "../queries/namespaces.js";
import { planAdoption, type AdoptionPlan } from "./adoption-plan.js";
import { ADOPTION_ROW, recordStep, stepIndex, type AdoptionStep } from "./adoption-state.js";
import { countAdopted, type AdoptedCounts } from "./adopted-counts.js";
import { copyCatalog } from "./copy-catalog.js";
import { copyTokens } from "./copy-tokens.js";
import { detectDatabase, type DatabaseState } from "./database-state.js";
import { LEGACY_PREFIX, type EpochSchema } from "./epoch-tables.js";
import type { AdoptionFaultPoint } from "./fault-points.js";
import { copyEpochBlobs, recomputeAdopted } from "./finish-adoption.js";
import { dropLegacyTables, renameEpochTables } from "./legacy-tables.js";
import { withMigrationLease } from "./migration-lease.js";
import { createSchema } from "./schema-step.js";
import { fencedWith, type StepContext } from "./step-context.js";
import { ADOPTED_SCOPES } from "./token-conversion.js";

export { SimulatedAdoptionCrash, type AdoptionFaultPoint } from "./fault-points.js";

export interface AdoptOptions {
  dryRun?: boolean;
  dropLegacy?: boolean;
  /** Identifies this process in the lease row. */
  holder?: string;
  leaseTtlMs?: number;
  /** How long to wait for a migration lease held by another process. */
  waitMs?: number;
  batchSize?: number;
  /** Progress and per-row notes (skipped tags, disagreements). */
  log?: (line: string) => void;
  faultPoints?: (point: AdoptionFaultPoint) => void | Promise<void>;
}

export type AdoptionResult =
  | { outcome: "planned"; state: Extract<DatabaseState, { kind: "epoch" | "adopting" }>; plan: AdoptionPlan }
  | {
      outcome: "adopted";
      resumedAfter: AdoptionStep | null;
      schema: EpochSchema;
      counts: AdoptedCounts;
      droppedLegacy: string[];
    }
  | { outcome: "already-adopted"; legacyTables: string[]; droppedLegacy: string[] };

export async function adoptEpochDatabase(db: Database, opts: AdoptOptions = {}): Promise<AdoptionResult> {
  const state = await detectDatabase(db);
  if (state.kind === "not-epoch") throw failedPrecondition(state.reason, "INVALID_ARGUMENT");
  if (opts.dryRun) {
    if (state.kind === "adopted")
      return { outcome: "already-adopted", legacyTables: state.legacyTables, droppedLegacy: [] };
    return { outcome: "planned", state, plan: await planAdoption(db, state.schema) };
  }
  // Nothing to do: return before taking the lease, so a re-run writes nothing at all.
  if (state.kind === "adopted" && (!opts.dropLegacy || state.legacyTables.length === 0)) {
    return { outcome: "already-adopted", legacyTables: state.legacyTables, droppedLegacy: [] };
  }
  return withMigrationLease(db, opts, async (leases, holder) => {
    // Another adopter may have moved on while we waited for the lease.
    const current = await detectDatabase(db);
    if (current.kind === "not-epoch") throw failedPrecondition(current.reason, "INVALID_ARGUMENT");
    if (current.kind === "adopted") {
      const droppedLegacy = opts.dropLegacy ? await dropLegacyTables(db) : [];
      return {
        outcome: "already-adopted",
        legacyTables: current.legacyTables.filter((t) => !droppedLegacy.includes(t)),
        droppedLegacy,
      };
    }
    const resumedAfter = current.kind === "adopting" ? current.step : null;
    await runSteps(db, current.schema, resumedAfter, leases, holder, opts);
    const counts = await countAdopted(db, current.schema);
    const droppedLegacy = opts.dropLegacy ? await dropLegacyTables(db) : [];
    return { outcome: "adopted", resumedAfter, schema: current.schema, counts, droppedLegacy };
  });
}

async function runSteps(
  db: Database,
  schema: EpochSchema,
  resumedAfter: AdoptionStep | null,
  leases: Leases,
  holder: string,
  opts: AdoptOptions,
): Promise<void> {
  const log = opts.log ?? (() => {});
  const fault = async (point: AdoptionFaultPoint) => opts.faultPoints?.(point);
  if (resumedAfter === null) {
    await db.ds.query("INSERT IGNORE INTO coordination (name, value, holder, expires_at) VALUES (?, 0, '', NULL)", [
      ADOPTION_ROW,
    ]);
  } else {
    log(`resuming an interrupted adoption after step "${resumedAfter}"`);
  }
  const done = (step: AdoptionStep) => resumedAfter !== null && stepIndex(resumedAfter) >= stepIndex(step);
  const runner = db.ds.createQueryRunner();
  try {
    if (!done("renamed")) {
      if (await renameEpochTables(db)) log("renamed repositories, tags, blobs, tokens → epoch_v0_*");
      await recordStep(runner, "started", "renamed");
      await fault("after-rename");
    }
    if (!done("schema")) {
      const applied = await createSchema(db);
      if (applied.length > 0) log(`created epoch-meta's schema (${applied.join(", ")})`);
      await recordStep(runner, "renamed", "schema");
      await fault("after-schema");
    }
  } finally {
    await runner.release();
  }
  const namespaceId = await namespaceIdOf(db, DEFAULT_NAMESPACE);
  if (namespaceId === undefined)
    throw failedPrecondition("the default namespace row is missing after the migrations", "INTERNAL");
  const c: StepContext = {
    db,
    schema: { ...schema, prefix: LEGACY_PREFIX },
    namespaceId,
    batchSize: opts.batchSize ?? 500,
    log,
    fenced: fencedWith(db, leases, holder),
  };
  if (!done("tokens")) {
    log(`adopted ${await copyTokens(c)} tokens (scopes ${ADOPTED_SCOPES}, no expiry)`);
    await fault("after-tokens");
  }
  if (!done("catalog")) {
    let batches = 0;
    const copied = await copyCatalog(c, async () => {
      if (batches++ === 0) await fault("after-first-catalog-batch");
    });
    log(`copied ${copied.tags} tags${copied.skipped > 0 ? ` (${copied.skipped} skipped)` : ""}`);
    await fault("after-catalog");
  }
  if (!done("blobs")) {
    log(`added ${await copyEpochBlobs(c)} blobs known only to Epoch's blobs table`);
    await fault("after-blobs");
  }
  if (!done("aggregates")) await recomputeAdopted(c);
}
