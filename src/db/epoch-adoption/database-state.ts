/**
 * What `migrate --from-epoch` finds: an Epoch database to adopt, an adoption to resume, one
 * already done, or nothing of Epoch's. Read-only. Anything it does not recognise is refused
 * with the reasons, before a single write.
 */
import { failedPrecondition } from "../../errors.js";
import type { Database } from "../data-source.js";
import { initialTables } from "../migrations/1763900000000-initial-schema.js";
import { LAST_STEP, readAdoptionStep, type AdoptionStep } from "./adoption-state.js";
import {
  EPOCH_TABLES,
  inspectEpochTables,
  LEGACY_PREFIX,
  readColumns,
  type Columns,
  type EpochSchema,
} from "./epoch-tables.js";

export type DatabaseState =
  | { kind: "epoch"; schema: EpochSchema }
  | { kind: "adopting"; step: AdoptionStep; schema: EpochSchema }
  | { kind: "adopted"; legacyTables: string[] }
  | { kind: "not-epoch"; reason: string };

const MIGRATIONS_TABLE = "epoch_meta_migrations";

export const legacyTablesIn = (columns: Columns): string[] =>
  EPOCH_TABLES.map((t) => `${LEGACY_PREFIX}${t}`).filter((t) => columns.has(t));

export async function detectDatabase(db: Database): Promise<DatabaseState> {
  if (db.dialect === "sqlite") {
    throw failedPrecondition(
      "--from-epoch adopts the MySQL/MariaDB database Epoch itself used; this is SQLite. Point EPOCH_DATABASE_URL (or --database) at Epoch's database: mysql://user:password@host:3306/epoch",
      "INVALID_ARGUMENT",
    );
  }
  const columns = await readColumns(db);
  const runner = db.ds.createQueryRunner();
  let step: AdoptionStep | null;
  try {
    step = await readAdoptionStep(runner);
  } finally {
    await runner.release();
  }
  if (step === LAST_STEP) return { kind: "adopted", legacyTables: legacyTablesIn(columns) };
  if (step !== null) {
    // The rename is one atomic statement: the tables are all under one of the two names.
    const prefix = columns.has(`${LEGACY_PREFIX}tokens`) ? LEGACY_PREFIX : "";
    return { kind: "adopting", step, schema: recognised(columns, prefix, []) };
  }

  if (columns.has(MIGRATIONS_TABLE) && (await countRows(db, MIGRATIONS_TABLE)) > 0) {
    return {
      kind: "not-epoch",
      reason: "this is already an epoch-meta database with no Epoch tables to adopt: run `epoch-meta migrate`",
    };
  }
  const found = EPOCH_TABLES.filter((t) => columns.has(t));
  const legacy = legacyTablesIn(columns);
  if (found.length === 0 && legacy.length === 0) {
    return {
      kind: "not-epoch",
      reason: "no Epoch tables (repositories, tags, blobs, tokens) in this database: nothing to adopt",
    };
  }
  // Our tables beside Epoch's would make the schema step fail half-way: refuse now instead.
  const ours = Object.keys(initialTables(db.dialect)).filter(
    (t) => t !== "coordination" && !(EPOCH_TABLES as readonly string[]).includes(t),
  );
  const collisions = [
    ...ours.filter((t) => columns.has(t)),
    ...legacy,
    ...(columns.has(MIGRATIONS_TABLE) ? [MIGRATIONS_TABLE] : []),
  ];
  return {
    kind: "epoch",
    schema: recognised(
      columns,
      "",
      collisions.map((t) => `table ${t} already exists (Epoch has no such table)`),
    ),
  };
}

function recognised(columns: Columns, prefix: EpochSchema["prefix"], extra: string[]): EpochSchema {
  const result = inspectEpochTables(columns, prefix);
  const problems = [...("problems" in result ? result.problems : []), ...extra];
  if (problems.length > 0 || !("schema" in result)) {
    throw failedPrecondition(
      `this database does not look like an Epoch (v0.1.x) database, so --from-epoch changed nothing:\n  - ${problems.join("\n  - ")}`,
      "INVALID_ARGUMENT",
    );
  }
  return result.schema;
}

async function countRows(db: Database, table: string): Promise<number> {
  const rows: Array<{ n: unknown }> = await db.ds.query(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(rows[0]?.n ?? 0);
}
