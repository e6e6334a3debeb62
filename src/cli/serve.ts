/** `epoch-meta serve`: run the gRPC server until SIGTERM/SIGINT, then shut down gracefully. */
import type { Command } from "commander";
import { createApp } from "../app.js";
import { loadConfig, unknownVariables } from "../config.js";
import { configureLogger, logger } from "../logger.js";

interface ServeOptions {
  listen?: string;
  database?: string;
  storage?: string;
  metricsListen?: string;
  migrate: boolean;
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve the MetadataService and TokenService over gRPC")
    .option("--listen <host:port>", "address to listen on (EPOCH_LISTEN, default 127.0.0.1:50051)")
    .option("--database <url>", "sqlite:<path>, mysql://… or mariadb://… (EPOCH_DATABASE_URL)")
    .option("--storage <url>", "file:<dir> or s3://bucket/prefix (EPOCH_STORAGE_URL)")
    .option(
      "--metrics-listen <host:port>",
      "serve /metrics, /healthz and /readyz over HTTP (EPOCH_METRICS_LISTEN, default off)",
    )
    .option("--no-migrate", "do not apply pending migrations; refuse to start if any are pending")
    .action(async (opts: ServeOptions) => {
      const config = loadConfig(process.env, {
        EPOCH_LISTEN: opts.listen,
        EPOCH_DATABASE_URL: opts.database,
        EPOCH_STORAGE_URL: opts.storage,
        EPOCH_METRICS_LISTEN: opts.metricsListen,
      });
      configureLogger(config.logLevel);
      const unknown = unknownVariables();
      if (unknown.length > 0) logger.warn({ variables: unknown }, "ignoring unknown EPOCH_* variables (typo?)");
      const app = await createApp(config, { migrate: opts.migrate });
      const signal = await nextSignal();
      logger.info({ signal }, "signal received");
      // A second signal means "now": skip the rest of the graceful shutdown.
      const force = () => {
        logger.warn("second signal: exiting without waiting for running calls");
        process.exit(1);
      };
      process.once("SIGTERM", force).once("SIGINT", force);
      await app.stop();
      // Exit even if a driver left a handle open; logs are written synchronously, so nothing is lost.
      setTimeout(() => process.exit(0), 1_000).unref();
    });
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", on).off("SIGINT", on);
      resolve(signal);
    };
    process.once("SIGTERM", on).once("SIGINT", on);
  });
}
