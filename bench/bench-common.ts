/**
 * What the benchmarks share: their result shape and how it is printed, the --quick scale, and the
 * fresh-build check.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface BenchResult {
  name: string;
  rows: Array<Record<string, string | number>>;
  json: Record<string, unknown>;
}

/** A table for people, then one JSON line for tools (`npm run bench` adds the machine). */
export function printResult(result: BenchResult, extra: Record<string, unknown> = {}): void {
  console.table(result.rows);
  console.log(JSON.stringify({ bench: result.name, ...extra, ...result.json }));
}

/** Whether the module of `meta` is the file node was started with (`npx tsx bench/gc.ts`). */
export const isMain = (meta: ImportMeta): boolean => meta.url === pathToFileURL(process.argv[1] ?? "").href;

/** `npm run bench -- --quick` (or EPOCH_BENCH_QUICK=1): smaller default scales, for a check that it runs. */
export function quick(): boolean {
  return process.env.EPOCH_BENCH_QUICK === "1" || process.argv.includes("--quick");
}

/** Children that run dist/ must not measure a build older than src/. */
export function assertFreshBuild(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const newest = (dir: string, ext: string): number =>
    readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && e.name.endsWith(ext))
      .reduce((max, e) => Math.max(max, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
  if (newest(join(root, "src"), ".ts") > newest(join(root, "dist/src"), ".js")) {
    throw new Error("dist/ is older than src/: run `npm run build` (npm run bench does) first");
  }
}
