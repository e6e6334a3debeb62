/**
 * The event outbox's cost in a sync (goal ≤ 1.15×): the first sync of a generated registry of
 * 100,000 tags (5,000 with `--quick`; 100 per repository) with the outbox on — every batch's
 * /repositories/create and /tags/create in its transaction, as the server runs — against the
 * same sync with it off (SyncServiceOptions.writeEvents = false, a seam only benchmarks set: the
 * server always writes events). Each sync runs the compiled service in a fresh process
 * (bench/sync-child.mjs) on a fresh database and the same registry; rounds alternate which goes
 * first, so a machine that slows down mid-run hits both alike, and the medians are compared.
 *
 *   npm run build && npx tsx bench/sync-events.ts [--quick]
 *
 * Env: EPOCH_BENCH_SYNC_EVENTS_TAGS, EPOCH_BENCH_SYNC_EVENTS_ROUNDS (2 full, 1 small),
 * EPOCH_BENCH_SYNC_EVENTS_TARGETS (sqlite,mariadb), EPOCH_BENCH_SYNC_CONCURRENCY (16),
 * EPOCH_BENCH_MARIADB_URL (mysql://root@127.0.0.1:3306/).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { writeScaleRegistry } from "../src/demo/demo-registry.js";
import { configureLogger } from "../src/logger.js";
import { DirectoryObjectStore } from "../src/storage/directory-store.js";
import { benchDatabase, type BenchDialect } from "./bench-databases.js";
import { benchScale, median, scaled } from "./bench-scale.js";
import { type BenchResult, assertFreshBuild, isMain, printResult } from "./bench-common.js";
import { runChild } from "./sync.js";

const GOAL = 1.15;
const PER_REPOSITORY = 100;

export async function run(): Promise<BenchResult> {
  assertFreshBuild();
  configureLogger(process.env.EPOCH_LOG_LEVEL ?? "warn");
  const tags = scaled("EPOCH_BENCH_SYNC_EVENTS_TAGS", 100_000, 5_000);
  const rounds = scaled("EPOCH_BENCH_SYNC_EVENTS_ROUNDS", 2, 1);
  const concurrency = scaled("EPOCH_BENCH_SYNC_CONCURRENCY", 16, 16);
  const targets = (process.env.EPOCH_BENCH_SYNC_EVENTS_TARGETS ?? "sqlite,mariadb").split(",") as BenchDialect[];
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-sync-events-"));
  const rows: Array<Record<string, string | number>> = [];
  try {
    const registry = join(dir, "registry");
    const start = performance.now();
    await writeScaleRegistry(new DirectoryObjectStore(registry, { durable: false }), {
      tags,
      tagsPerRepository: PER_REPOSITORY,
    });
    console.error(`generated ${tags} tags in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    for (const dialect of targets) {
      const seconds = { on: [] as number[], off: [] as number[] };
      let events = 0;
      for (let round = 0; round < rounds; round++) {
        // Alternate which goes first.
        for (const mode of round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
          // The child opens its own connection; this handle only creates (and drops) the database.
          const target = await benchDatabase(dialect, dir, `sync_${mode}_${round}`);
          try {
            const [result] = await runChild(
              {
                target: `${dialect} + directory`,
                tags,
                concurrency,
                storageUrl: `file:${registry}`,
                databaseUrl: target.url,
                firstOnly: true,
                writeEvents: mode === "on",
              },
              {},
            );
            if (Number(result!.tagsAdded) !== tags)
              throw new Error(`the sync added ${result!.tagsAdded} of ${tags} tags`);
            seconds[mode].push(Number(result!.seconds));
            if (mode === "on") events = Number(result!.events);
            else if (Number(result!.events) !== 0) throw new Error("the sync with events off wrote events");
          } finally {
            await target.drop();
          }
        }
      }
      const off = median(seconds.off);
      const on = median(seconds.on);
      rows.push({
        target: `${dialect} + directory`,
        tags,
        rounds,
        events_off_s: Number(off.toFixed(2)),
        events_on_s: Number(on.toFixed(2)),
        ratio: Number((on / off).toFixed(3)),
        goal_met: on / off <= GOAL ? "yes" : "no",
        events_written: events,
        all_on_s: seconds.on.map((s) => s.toFixed(2)).join(" "),
        all_off_s: seconds.off.map((s) => s.toFixed(2)).join(" "),
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { name: "sync-events", rows, json: { scale: benchScale(), tags, goal_ratio: GOAL, rows } };
}

if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
