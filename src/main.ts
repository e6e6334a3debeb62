#!/usr/bin/env node
/**
 * The `epoch-meta` CLI entry: commands only, no logic. Each command lives in src/cli/<name>.ts
 * and exports `register(program)`; adding one is one line in COMMANDS.
 */
import { Command } from "commander";
import * as migrate from "./cli/migrate.js";
import { describeError } from "./cli/client.js";
import * as serve from "./cli/serve.js";

const COMMANDS: Array<{ register(program: Command): void }> = [serve, migrate];

const program = new Command()
  .name("epoch-meta")
  .description("metadata and token service for OCI registries kept in object storage")
  .showHelpAfterError();
for (const command of COMMANDS) command.register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Bad configuration, an unreachable database, an occupied port: one line, no stack trace.
  // Exit now: a half-opened pool must not keep a failed process alive (stderr writes are synchronous).
  process.stderr.write(`epoch-meta: ${describeError(e)}\n`);
  process.exit(1);
}
