/** `epoch-meta migrate`: apply pending schema migrations (under the migration lease) or list them. */
import { hostname } from "node:os";
import type { Command } from "commander";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db/data-source.js";
import { migrate } from "../db/migrate.js";
import { migrateFromEpoch } from "./migrate-from-epoch.js";
import { configureLogger } from "../logger.js";

interface MigrateOptions {
  database?: string;
  dryRun?: boolean;
  fromEpoch?: boolean;
  dropLegacy?: boolean;
}

export function register(program: Command): void {
  program
    .command("migrate")
    .description("apply pending database migrations (safe to run from several replicas at once)")
    .option("--database <url>", "sqlite:<path>, mysql://… or mariadb://… (EPOCH_DATABASE_URL)")
    .option("--dry-run", "list pending migrations (with --from-epoch: print the adoption plan) and write nothing")
    .option(
      "--from-epoch",
      "adopt an Epoch database in place (stop Epoch's writers and back up first; see docs/adopting-epoch.md)",
    )
    .option("--drop-legacy", "after adopting, drop Epoch's tables (kept as epoch_v0_*)")
    .action(async (opts: MigrateOptions) => {
      const config = loadConfig(process.env, { EPOCH_DATABASE_URL: opts.database });
      configureLogger(config.logLevel);
      const db = await openDatabase(config.databaseUrl);
      try {
        if (opts.fromEpoch || opts.dropLegacy) {
          const holder = `migrate@${hostname()}:${process.pid}`;
          await migrateFromEpoch(db, { dryRun: opts.dryRun === true, dropLegacy: opts.dropLegacy === true, holder });
          return;
        }
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
