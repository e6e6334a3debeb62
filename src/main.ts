#!/usr/bin/env node
/** The `epoch-meta` CLI entry: the command tree lives in src/cli/program.ts. */
import { describeError } from "./cli/client.js";
import { buildProgram } from "./cli/program.js";

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  // Bad configuration, an unreachable database, an occupied port: one line, no stack trace.
  // Exit now: a half-opened pool must not keep a failed process alive (stderr writes are synchronous).
  process.stderr.write(`epoch-meta: ${describeError(e)}\n`);
  process.exit(1);
}
