/**
 * `npm run bench`: runs every benchmark, each beside its reference measured in the same run,
 * and prints a table plus one JSON line per benchmark. Pick some with `npm run bench -- sync list`;
 * `--quick` runs each at a smaller default scale (a check that it works, not numbers to quote).
 * Benchmarks never run in tests; tests assert counts instead.
 */
import { arch, cpus, totalmem } from "node:os";

import { type BenchResult, printResult } from "./bench-common.js";

const ALL = [
  "validate-token",
  "list",
  "sync",
  "sync-namespaces",
  "fixture-generate",
  "sync-events",
  "gc",
  "watch-replay",
  "event-delivery",
];

const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  arch: arch(),
  node: process.version,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
if (process.argv.includes("--quick")) process.env.EPOCH_BENCH_QUICK = "1";
const names = wanted.length > 0 ? wanted : ALL;
console.log(`machine: ${JSON.stringify(machine)}`);
let failed = false;
for (const name of names) {
  console.log(`\n## ${name}`);
  try {
    const mod = (await import(`./${name}.js`)) as { run(): Promise<BenchResult> };
    const result = await mod.run();
    printResult(result, { machine });
  } catch (e) {
    failed = true;
    console.error(`bench ${name} failed: ${(e as Error).stack ?? e}`);
  }
}
process.exit(failed ? 1 : 0);
