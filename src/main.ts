#!/usr/bin/env node
/**
 * The `epoch-meta` CLI entry: commands only, no logic. Each command lives in src/cli/<name>.ts
 * and exports `register(program)`; adding one is one line in COMMANDS.
 */
import { Command } from "commander";
import * as demo from "./cli/demo.js";
import * as events from "./cli/events.js";
import * as migrate from "./cli/migrate.js";
import * as namespaces from "./cli/namespaces.js";
import { describeError } from "./cli/client.js";
import * as repos from "./cli/repos.js";
import * as serve from "./cli/serve.js";
import * as stats from "./cli/stats.js";
import * as sync from "./cli/sync.js";
import * as tags from "./cli/tags.js";
import * as token from "./cli/token.js";

const COMMANDS: Array<{ register(program: Command): void }> = [
  serve,
  migrate,
  sync,
  repos,
  tags,
  stats,
  token,
  namespaces,
  events,
  demo,
];

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
