/**
 * How long a 100k-tag registry takes to generate into a directory store (goal: < 60 s).
 * `npx tsx bench/fixture-generate.ts [tags]` prints a table and one JSON line; bench/run.ts
 * imports `run`.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { DirectoryObjectStore } from "../src/storage/directory-store.js";
import { writeScaleRegistry } from "../src/demo/demo-registry.js";
import { RegistryLayout } from "../src/storage/registry-layout.js";

import { type BenchResult, isMain, printResult, quick } from "./bench-common.js";

const GOAL_MS = 60_000;

export async function run(opts: { tags?: number } = {}): Promise<BenchResult> {
  const tags = opts.tags ?? (quick() ? 10_000 : 100_000);
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-fixture-"));
  try {
    const store = new DirectoryObjectStore(dir, { durable: false });
    const start = performance.now();
    const summary = await writeScaleRegistry(store, { tags });
    const ms = performance.now() - start;
    // Sanity: the catalog lists every tag, so the run measured what it claims.
    const cat = await new RegistryLayout(store).readCatalog();
    const listed = cat.status === "ok" ? cat.catalog.repositories.reduce((s, r) => s + r.tags.length, 0) : 0;
    if (listed !== tags) throw new Error(`catalog lists ${listed} tags, expected ${tags}`);
    const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
    const row = {
      tags,
      repositories: summary.repositories,
      manifests: summary.manifests,
      objects: files,
      seconds: Number((ms / 1000).toFixed(2)),
      tags_per_second: Math.round(tags / (ms / 1000)),
      goal_seconds: GOAL_MS / 1000,
      within_goal: ms < GOAL_MS ? "yes" : "NO",
    };
    return { name: "fixture-generate", rows: [row], json: { ...row, within_goal: ms < GOAL_MS, summary } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta)) {
  const tags = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await run(tags ? { tags } : {}));
}
