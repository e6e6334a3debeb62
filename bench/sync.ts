/**
 * The catalog sync on a generated registry (writeScaleRegistry): a full first sync against the
 * I/O floor measured in the same run (the same GETs at the same concurrency, nothing parsed or
 * written), then a no-op sync and a one-tag-changed sync, with object-store requests beside
 * those Epoch's algorithm makes (one GET per tag whenever the catalog changed), and peak RSS.
 * Targets: SQLite + directory store (the goal: full ≤ 2× floor, RSS < 300 MB at 100k tags),
 * MariaDB + directory store, SQLite + S3 (s3rver, in this process).
 *
 *   npx tsx bench/sync.ts                                      # 10k tags
 *   EPOCH_BENCH_SYNC_TAGS=100000 npx tsx bench/sync.ts
 *
 * Env: EPOCH_BENCH_SYNC_TAGS (10000), EPOCH_BENCH_SYNC_S3_TAGS (min(tags, 10000): s3rver is slow
 * to fill), EPOCH_BENCH_SYNC_CONCURRENCY (16), EPOCH_BENCH_SYNC_TARGETS (sqlite-dir,mariadb-dir,sqlite-s3),
 * EPOCH_BENCH_MARIADB_URL (mysql://root@127.0.0.1:3306/). Creates and removes its own databases and directories.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import mysql from "mysql2/promise";
import { openDatabase, type Database } from "../src/db/data-source.js";
import { migrate } from "../src/db/migrate.js";
import { configureLogger } from "../src/logger.js";
import { SyncService } from "../src/services/sync-service.js";
import type { SyncFinished, SyncFlags } from "../src/services/sync-types.js";
import { CountingStore } from "../src/storage/counting-store.js";
import { imageManifestBytes } from "../src/storage/demo-builder.js";
import { writeScaleRegistry } from "../src/storage/demo-registry.js";
import { DirectoryObjectStore } from "../src/storage/directory-store.js";
import type { ObjectStore } from "../src/storage/object-store.js";
import { CATALOG_KEY, manifestKey, RegistryLayout } from "../src/storage/registry-layout.js";
import { RetryingStore } from "../src/storage/retrying-store.js";
import { startS3Server, type TestS3Server } from "../test/helpers/s3-server.js";

export interface BenchResult {
  name: string;
  rows: Array<Record<string, string | number>>;
  json: Record<string, unknown>;
}

const PER_REPOSITORY = 100;
const INCREMENTAL: SyncFlags = { full: false, dryRun: false, allowMassRemoval: false };

function env(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
  return value;
}

/** Peak resident set size while `fn` runs (sampled every 20 ms, plus before and after). */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakMb: Math.round(peak / 2 ** 20) };
  } finally {
    clearInterval(timer);
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - start) / 1000 };
}

/** The floor: the catalog and every tag's manifest, GET at the same concurrency through the same wrappers; no parsing, no database. */
async function ioFloor(store: ObjectStore, tags: number, concurrency: number): Promise<number> {
  const requests = new RetryingStore(new CountingStore(store));
  const keys = Array.from({ length: tags }, (_, i) => manifestKey(`scale/repo-${Math.floor(i / PER_REPOSITORY)}`, `t${i % PER_REPOSITORY}`));
  const { seconds } = await timed(async () => {
    await requests.get(CATALOG_KEY);
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < keys.length) await requests.get(keys[next++]!);
      }),
    );
  });
  return seconds;
}

async function sync(service: SyncService, flags: SyncFlags = INCREMENTAL): Promise<SyncFinished> {
  const run = await service.start(flags, "cli");
  const finished = await run.done;
  if (finished.state !== "SUCCEEDED") throw new Error(`sync ended ${finished.state}: ${finished.message}`);
  return finished;
}

interface Target {
  name: string;
  store: ObjectStore;
  tags: number;
  openDb(): Promise<{ db: Database; drop(): Promise<void> }>;
}

async function measure(t: Target, concurrency: number): Promise<Array<Record<string, string | number>>> {
  const { db, drop } = await t.openDb();
  try {
    const service = new SyncService({ db, store: t.store, concurrency });
    const floor = await ioFloor(t.store, t.tags, concurrency);
    const full = await withPeakRss(() => timed(() => sync(service)));
    const noop = await timed(() => sync(service));
    // One tag of one repository (of PER_REPOSITORY tags) gets a new manifest.
    const changed = imageManifestBytes({
      config: { digest: `sha256:${randomBytes(32).toString("hex")}`, size: 1234, mediaType: "application/vnd.oci.image.config.v1+json" },
      layers: [{ digest: `sha256:${randomBytes(32).toString("hex")}`, size: 56789, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }],
    });
    await new RegistryLayout(t.store).pushManifest("scale/repo-0", "t7", changed);
    const one = await timed(() => sync(service));
    const rerun = await timed(() => sync(service, { ...INCREMENTAL, full: true }));
    await service.shutdown();
    const epochFull = 1 + t.tags;
    const row = (scenario: string, s: number, f: SyncFinished, epoch: number, extra: Record<string, string | number> = {}) => ({
      target: t.name,
      tags: t.tags,
      scenario,
      seconds: Number(s.toFixed(2)),
      requests: f.counts.objectStoreRequests,
      epoch_requests: epoch,
      ...extra,
    });
    return [
      row("full (first) sync", full.result.seconds, full.result.result, epochFull, {
        io_floor_seconds: Number(floor.toFixed(2)),
        x_floor: Number((full.result.seconds / floor).toFixed(2)),
        peak_rss_mb: full.peakMb,
      }),
      row("no-op sync", noop.seconds, noop.result, 1),
      row("one tag changed", one.seconds, one.result, epochFull),
      row("full=true re-sync, nothing changed", rerun.seconds, rerun.result, epochFull),
    ];
  } finally {
    await drop();
  }
}

export async function run(): Promise<BenchResult> {
  configureLogger(process.env.EPOCH_LOG_LEVEL ?? "warn");
  const tags = env("EPOCH_BENCH_SYNC_TAGS", 10_000);
  const s3Tags = env("EPOCH_BENCH_SYNC_S3_TAGS", Math.min(tags, 10_000));
  const concurrency = env("EPOCH_BENCH_SYNC_CONCURRENCY", 16);
  const targets = (process.env.EPOCH_BENCH_SYNC_TARGETS ?? "sqlite-dir,mariadb-dir,sqlite-s3").split(",");
  const mariadbUrl = process.env.EPOCH_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/";
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-sync-"));
  let s3: TestS3Server | undefined;
  const rows: Array<Record<string, string | number>> = [];
  try {
    const sqlite = (name: string) => async () => {
      const db = await openDatabase(`sqlite:${join(dir, `${name}.db`)}`);
      await migrate(db);
      return { db, drop: () => db.close() };
    };
    const registry = async (store: ObjectStore, n: number) => {
      const { seconds } = await timed(() => writeScaleRegistry(store, { tags: n, tagsPerRepository: PER_REPOSITORY }));
      console.error(`generated ${n} tags in ${seconds.toFixed(1)} s`);
    };
    const dirStore = new DirectoryObjectStore(join(dir, "registry"), { durable: false });
    if (targets.some((t) => t.endsWith("-dir"))) await registry(dirStore, tags);
    // SQLite + directory first: its peak RSS is the goal's number, before s3rver shares the process.
    if (targets.includes("sqlite-dir")) rows.push(...(await measure({ name: "sqlite + directory", store: dirStore, tags, openDb: sqlite("dir") }, concurrency)));
    if (targets.includes("mariadb-dir")) {
      const openDb = async () => {
        const name = `epoch_bench_sync_${randomBytes(4).toString("hex")}`;
        const admin = await mysql.createConnection(mariadbUrl);
        await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
        const db = await openDatabase(`${mariadbUrl.replace(/^mysql:/, "mariadb:").replace(/\/?$/, "/")}${name}`);
        await migrate(db);
        return {
          db,
          drop: async () => {
            await db.close();
            await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
            await admin.end();
          },
        };
      };
      rows.push(...(await measure({ name: "mariadb + directory", store: dirStore, tags, openDb }, concurrency)));
    }
    if (targets.includes("sqlite-s3")) {
      s3 = await startS3Server({ prefix: "bench" });
      const store = s3.open({ retry: false });
      await registry(store, s3Tags);
      rows.push(...(await measure({ name: "sqlite + s3rver", store, tags: s3Tags, openDb: sqlite("s3") }, concurrency)));
    }
    const sqliteFull = rows.find((r) => r.target === "sqlite + directory" && r.scenario === "full (first) sync");
    const goals = sqliteFull
      ? { within_2x_floor: Number(sqliteFull.x_floor) <= 2, rss_under_300mb: Number(sqliteFull.peak_rss_mb) < 300 }
      : {};
    return { name: "sync", rows, json: { tags, s3_tags: s3Tags, concurrency, tags_per_repository: PER_REPOSITORY, goals, rows } };
  } finally {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await run();
  console.table(result.rows);
  console.log(JSON.stringify({ bench: result.name, ...result.json }));
  process.exit(0);
}
