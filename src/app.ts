/**
 * The composition root: the one function that builds the service graph for `serve` (and for
 * the end-to-end tests). To wire a capability in, construct it in the "services" block below
 * from `db`/`config`, put its gRPC adapter into `services`, and register what it must do at
 * shutdown in `beforeDrain` (stop timers, wind down streams) or `afterDrain` (flush buffers).
 */
import { hostname } from "node:os";
import type { Config } from "./config.js";
import { openDatabase } from "./db/data-source.js";
import { assertMigrated, migrate } from "./db/migrate.js";
import { unimplemented } from "./errors.js";
import { configureLogger, logger } from "./logger.js";
import { startServer, type RunningServer, type ServerDeps, type ShutdownHook } from "./server.js";
import type { TokenLookup } from "./services/token-lookup.js";

export interface AppOptions {
  /** Apply pending migrations at start (default); false = refuse to start with pending ones. */
  migrate?: boolean;
  /** Test seam: replaces the token service's lookup used by API authentication. */
  tokenLookup?: TokenLookup;
  healthProbe?: ServerDeps["healthProbe"];
}

export interface App {
  server: RunningServer;
  /** Graceful shutdown (idempotent): health, drain, hooks, database. */
  stop(): Promise<void>;
}

/** Until the token service is wired in, a credential cannot be checked: say so, never guess. */
const tokenLookupNotBuilt: TokenLookup = {
  lookup: () => Promise.reject(unimplemented("token authentication is not available yet in this build")),
};

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  configureLogger(config.logLevel);
  const db = await openDatabase(config.databaseUrl);
  try {
    if (options.migrate === false) {
      await assertMigrated(db);
    } else {
      const { applied } = await migrate(db, { holder: `serve@${hostname()}:${process.pid}` });
      if (applied.length > 0) logger.info({ applied }, "applied migrations");
    }

    // ── services: construct each capability here and wire its adapter below ──
    const services: NonNullable<ServerDeps["services"]> = {};
    const tokenLookup: TokenLookup = options.tokenLookup ?? tokenLookupNotBuilt;
    const beforeDrain: ShutdownHook[] = [];
    const afterDrain: ShutdownHook[] = [];

    const server = await startServer(config, {
      db,
      tokenLookup,
      services,
      beforeDrain,
      afterDrain,
      ...(options.healthProbe && { healthProbe: options.healthProbe }),
    });
    return { server, stop: server.shutdown };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}
