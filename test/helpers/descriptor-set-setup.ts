/**
 * Rebuilds the descriptor set reflection serves (the `build:descriptors` script) before the run,
 * so tests that start a server see the current protos without a full `npm run build`.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

export default function setup(): void {
  mkdirSync("dist", { recursive: true });
  execFileSync("npm", ["run", "--silent", "build:descriptors"], { stdio: "inherit" });
}
