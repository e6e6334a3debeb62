/**
 * The CLI speaks to people: `--version`, each default shown once in every help text, and one
 * human line (not grpc-js's diagnostic text) when the server cannot be reached.
 */
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { packageVersion } from "../../src/cli/version.js";
import { runCli } from "../helpers/cli.js";

function* commands(c: Command): Generator<Command> {
  yield c;
  for (const sub of c.commands) yield* commands(sub);
}

describe("the CLI", () => {
  it("prints its version", async () => {
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
    const run = await runCli(["--version"], {});
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(packageVersion());
  }, 60_000);

  it("shows each option's default once in every help text", () => {
    const checked: string[] = [];
    for (const command of commands(buildProgram())) {
      const help = command.createHelp();
      for (const option of command.options) {
        const text = help.optionDescription(option);
        // "default:" or "default pull"; a value that is itself "default" (the namespace) is no second mention.
        const defaults = text.match(/\bdefault(?=[:\s])/gi) ?? [];
        expect(defaults.length, `${command.name()} ${option.flags}: ${text}`).toBeLessThanOrEqual(1);
        checked.push(`${command.name()} ${option.long}`);
      }
    }
    // The options that used to say it twice are among those checked.
    expect(checked).toEqual(expect.arrayContaining(["create --scope", "create --repository", "list --page-size"]));
    const create = [...commands(buildProgram())].find((c) => c.name() === "create" && c.parent?.name() === "token")!;
    expect(create.helpInformation()).toMatch(/default\s+pull\)/);
    expect(create.helpInformation()).not.toContain("(default: [])");
  });

  it("says in one line that the server cannot be reached, naming it", async () => {
    const run = await runCli(["stats"], { EPOCH_SERVER: "127.0.0.1:1", EPOCH_TOKEN: "", EPOCH_LOG_LEVEL: "silent" });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "epoch-meta: cannot reach the server at 127.0.0.1:1 (connection refused): is `epoch-meta serve` running there? (EPOCH_SERVER or --server)\n",
    );
  }, 60_000);
});
