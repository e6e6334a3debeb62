/**
 * The `epoch-meta` command tree, without parsing (main.ts parses; tests walk the tree). Each
 * command lives in src/cli/<name>.ts and exports `register(program)`; adding one is one line in
 * COMMANDS.
 */
import { Command } from "commander";
import * as leases from "./content/leases.js";
import * as uploads from "./content/uploads.js";
import * as demo from "./demo.js";
import * as events from "./events.js";
import * as gc from "./gc.js";
import { configureHelp } from "./help.js";
import * as migrate from "./migrate.js";
import * as namespaces from "./namespaces.js";
import * as repos from "./repos.js";
import * as serve from "./serve.js";
import * as stats from "./stats.js";
import * as sync from "./sync.js";
import * as tags from "./tags.js";
import * as token from "./token.js";
import { packageVersion } from "./version.js";

const COMMANDS: Array<{ register(program: Command): void }> = [
  serve,
  migrate,
  sync,
  gc,
  repos,
  tags,
  stats,
  token,
  namespaces,
  events,
  leases,
  uploads,
  demo,
];

export function buildProgram(): Command {
  // Help settings first: subcommands copy them when they are created.
  const program = configureHelp(new Command())
    .name("epoch-meta")
    .description("metadata and token service for OCI registries kept in object storage")
    .version(packageVersion(), "-V, --version", "print the version")
    .showHelpAfterError();
  for (const command of COMMANDS) command.register(program);
  return program;
}
