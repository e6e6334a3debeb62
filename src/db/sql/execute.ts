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
