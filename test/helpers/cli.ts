/**
 * Runs the real CLI (`epoch-meta <args>`, src/main.ts through tsx) as a child process, async:
 * a server under test may be answering from this process.
 */
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const TSX = pathToFileURL(join(REPO_ROOT, "node_modules/tsx/dist/loader.mjs")).href;
export const MAIN = join(REPO_ROOT, "src/main.ts");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `epoch-meta <args>` to completion with `env` over this process's environment. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** Runs `epoch-meta <args>` against `server` without a token, logging nothing. */
export const cli = (args: string[], server: string): Promise<CliRun> =>
  runCli(args, { EPOCH_SERVER: server, EPOCH_TOKEN: "", EPOCH_LOG_LEVEL: "silent" });
