/**
 * The catalog sync on a generated registry (writeScaleRegistry, 100 tags per repository): a full
 * first sync against the I/O floor measured in the same process (the same GETs at the same
 * concurrency, nothing parsed or written), then a no-op sync, a one-tag-changed sync and a
 * `full=true` re-sync, with our object-store requests beside those Epoch's algorithm makes (one
 * GET per tag whenever the catalog changed), and the sync process's peak RSS. Each target runs
 * in a fresh child process, so its peak RSS is a sync's, not the registry generator's.
 * Targets: SQLite + directory store (goals: full ≤ 2× floor; peak RSS < 300 MB at 100k tags),
 * MariaDB + directory store, SQLite + S3 (s3rver in the parent process).
 *
 * The measuring children run the compiled service (bench/sync-child.mjs on dist/), as `npm start`
 * does; build first:
 *
 *   npm run build && npx tsx bench/sync.ts                     # 10k tags
 *   EPOCH_BENCH_SYNC_TAGS=100000 npx tsx bench/sync.ts
 *
 * Env: EPOCH_BENCH_SYNC_TAGS (10000; 1000 with --quick), EPOCH_BENCH_SYNC_S3_TAGS (min(tags, 10000): s3rver is slow
 * to fill), EPOCH_BENCH_SYNC_CONCURRENCY (16), EPOCH_BENCH_SYNC_TARGETS (sqlite-dir,mariadb-dir,sqlite-s3),
 * EPOCH_BENCH_MARIADB_URL (mysql://root@127.0.0.1:3306/), EPOCH_BENCH_SYNC_NODE_OPTIONS (extra flags for the
 * measuring process, e.g. "--max-old-space-size=256" as a container would set). Creates and removes its own
 * databases and directories.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { configureLogger } from "../src/logger.js";
import { writeScaleRegistry } from "../src/demo/demo-registry.js";
import { DirectoryObjectStore } from "../src/storage/directory-store.js";
import type { ObjectStore } from "../src/storage/object-store.js";
import { startS3Server, type TestS3Server } from "../test/helpers/s3-server.js";

import { type BenchResult, assertFreshBuild, isMain, printResult, quick } from "./bench-common.js";

const PER_REPOSITORY = 100;

/** What a child process measures: one store, one database. */
export interface ChildJob {
  target: string;
  tags: number;
  concurrency: number;
  /** file:<dir> or s3://… (credentials in the child's environment). */
  storageUrl: string;
  /** sqlite:<path> or mariadb://…/<new database> (created by the child's caller). */
  databaseUrl: string;
  /** bench/sync-events.ts: the first sync only. */
  firstOnly?: boolean;
  /** false: the SyncService's benchmark seam, commits without the event outbox. */
  writeEvents?: boolean;
}

function env(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
  return value;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - start) / 1000 };
}

export function runChild(
  job: ChildJob,
  extraEnv: Record<string, string>,
): Promise<Array<Record<string, string | number>>> {
  const child = fileURLToPath(new URL("./sync-child.mjs", import.meta.url));
  return new Promise((resolve, reject) => {
    const nodeOptions = (process.env.EPOCH_BENCH_SYNC_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
    execFile(
      process.execPath,
      [...nodeOptions, child, JSON.stringify(job)],
      { env: { ...process.env, ...extraEnv }, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${job.target}: ${stderr || err.message}`));
        resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as Array<Record<string, string | number>>);
      },
    );
  });
}

export async function run(): Promise<BenchResult> {
  assertFreshBuild();
  configureLogger(process.env.EPOCH_LOG_LEVEL ?? "warn");
  const tags = env("EPOCH_BENCH_SYNC_TAGS", quick() ? 1_000 : 10_000);
  const s3Tags = env("EPOCH_BENCH_SYNC_S3_TAGS", Math.min(tags, 10_000));
  const concurrency = env("EPOCH_BENCH_SYNC_CONCURRENCY", 16);
  const targets = (process.env.EPOCH_BENCH_SYNC_TARGETS ?? "sqlite-dir,mariadb-dir,sqlite-s3").split(",");
  const mariadbUrl = process.env.EPOCH_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/";
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-sync-"));
  let s3: TestS3Server | undefined;
  const rows: Array<Record<string, string | number>> = [];
  const generate = async (store: ObjectStore, n: number) => {
    const { seconds } = await timed(() => writeScaleRegistry(store, { tags: n, tagsPerRepository: PER_REPOSITORY }));
    console.error(`generated ${n} tags in ${seconds.toFixed(1)} s`);
  };
  try {
    // Each target gets its own copy of the registry: the one-tag change must not leak into the next.
    const directoryTarget = async (target: string, databaseUrl: string) => {
      const registry = join(dir, `registry-${target}`);
      await generate(new DirectoryObjectStore(registry, { durable: false }), tags);
      rows.push(...(await runChild({ target, tags, concurrency, storageUrl: `file:${registry}`, databaseUrl }, {})));
      await rm(registry, { recursive: true, force: true });
    };
    if (targets.includes("sqlite-dir")) await directoryTarget("sqlite + directory", `sqlite:${join(dir, "dir.db")}`);
    if (targets.includes("mariadb-dir")) {
      const name = `epoch_bench_sync_${randomBytes(4).toString("hex")}`;
      const admin = await mysql.createConnection(mariadbUrl);
      try {
        await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
        await directoryTarget(
          "mariadb + directory",
          `${mariadbUrl.replace(/^mysql:/, "mariadb:").replace(/\/?$/, "/")}${name}`,
        );
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await admin.end();
      }
    }
    if (targets.includes("sqlite-s3")) {
      s3 = await startS3Server({ prefix: "bench" });
      await generate(s3.open({ retry: false }), s3Tags);
      rows.push(
        ...(await runChild(
          {
            target: "sqlite + s3rver",
            tags: s3Tags,
            concurrency,
            storageUrl: s3.url,
            databaseUrl: `sqlite:${join(dir, "s3.db")}`,
          },
          s3.env,
        )),
      );
    }
    const sqliteFull = rows.find((r) => r.target === "sqlite + directory" && r.scenario === "full (first) sync");
    const goals = sqliteFull
      ? { within_2x_floor: Number(sqliteFull.x_floor) <= 2, rss_under_300mb: Number(sqliteFull.peak_rss_mb) < 300 }
      : {};
    const nodeOptions = process.env.EPOCH_BENCH_SYNC_NODE_OPTIONS ?? "";
    return {
      name: "sync",
      rows,
      json: {
        tags,
        s3_tags: s3Tags,
        concurrency,
        tags_per_repository: PER_REPOSITORY,
        node_options: nodeOptions,
        goals,
        rows,
      },
    };
  } finally {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
