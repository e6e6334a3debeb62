/** `epoch-meta migrate`: apply pending schema migrations (under the migration lease) or list them. */
import { hostname } from "node:os";
import type { Command } from "commander";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db/data-source.js";
import { migrate } from "../db/migrate.js";
import { configureLogger } from "../logger.js";

interface MigrateOptions {
  database?: string;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command("migrate")
    .description("apply pending database migrations (safe to run from several replicas at once)")
    .option("--database <url>", "sqlite:<path>, mysql://… or mariadb://… (EPOCH_DATABASE_URL)")
    .option("--dry-run", "list pending migrations without applying them")
    .action(async (opts: MigrateOptions) => {
      const config = loadConfig(process.env, { EPOCH_DATABASE_URL: opts.database });
      configureLogger(config.logLevel);
      const db = await openDatabase(config.databaseUrl);
      try {
        const { applied, pending } = await migrate(db, {
          dryRun: opts.dryRun === true,
          holder: `migrate@${hostname()}:${process.pid}`,
        });
        for (const name of pending) console.log(`pending  ${name}`);
        for (const name of applied) console.log(`applied  ${name}`);
        if (applied.length === 0 && pending.length === 0) console.log("database schema is up to date");
      } finally {
        await db.close();
      }
    });
}
