import type { DataSource, EntityManager, QueryRunner } from "typeorm";

type Executor = DataSource | EntityManager | QueryRunner;

/** Runs a write statement and returns the number of rows it matched, on every dialect. */
export async function execute(on: Executor, sql: string, params: unknown[] = []): Promise<number> {
  const runner: QueryRunner =
    "createQueryRunner" in on
      ? on.createQueryRunner()
      : "queryRunner" in on && on.queryRunner
        ? on.queryRunner
        : (on as QueryRunner);
  const owned = runner !== on && !("queryRunner" in on && on.queryRunner === runner);
  try {
    const result = await runner.query(sql, params, true);
    return result.affected ?? 0;
  } finally {
    if (owned) await runner.release();
  }
}

/** A unique or primary key refused the row (MariaDB ER_DUP_ENTRY, SQLite's constraint codes). */
export function isDuplicateKey(e: unknown): boolean {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = err?.driverError?.code ?? err?.code;
  return code === "ER_DUP_ENTRY" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}
