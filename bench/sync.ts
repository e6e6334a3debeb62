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
 *   npx tsx bench/sync.ts                                      # 10k tags
 *   EPOCH_BENCH_SYNC_TAGS=100000 npx tsx bench/sync.ts
 *
 * Env: EPOCH_BENCH_SYNC_TAGS (10000), EPOCH_BENCH_SYNC_S3_TAGS (min(tags, 10000): s3rver is slow
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
import { fileURLToPath, pathToFileURL } from "node:url";
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
import { openObjectStore } from "../src/storage/open-store.js";
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

/** What a child process measures: one store, one database. */
interface ChildJob {
  target: string;
  tags: number;
  concurrency: number;
  /** file:<dir> or s3://… (credentials in the child's environment). */
  storageUrl: string;
  /** sqlite:<path> or mariadb://…/<new database> (created by the child's caller). */
  databaseUrl: string;
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

/** In the child: floor, then the four syncs; returns the table rows. */
async function measure(job: ChildJob): Promise<Array<Record<string, string | number>>> {
  configureLogger("warn");
  const store = openObjectStore(job.storageUrl, { retry: false, directory: { durable: false } });
  const db: Database = await openDatabase(job.databaseUrl);
  try {
    await migrate(db);
    const service = new SyncService({ db, store, concurrency: job.concurrency });
    const floor = await ioFloor(store, job.tags, job.concurrency);
    const full = await timed(() => sync(service));
    // The kernel's high-water mark of this process (modules, floor and first sync included).
    const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    const noop = await timed(() => sync(service));
    const changed = imageManifestBytes({
      config: { digest: `sha256:${randomBytes(32).toString("hex")}`, size: 1234, mediaType: "application/vnd.oci.image.config.v1+json" },
      layers: [{ digest: `sha256:${randomBytes(32).toString("hex")}`, size: 56789, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }],
    });
    await new RegistryLayout(store).pushManifest("scale/repo-0", "t7", changed);
    const one = await timed(() => sync(service));
    const rerun = await timed(() => sync(service, { ...INCREMENTAL, full: true }));
    await service.shutdown();
    const epochPerChange = 1 + job.tags;
    const row = (scenario: string, s: number, f: SyncFinished, epoch: number, extra: Record<string, string | number> = {}) => ({
      target: job.target,
      tags: job.tags,
      scenario,
      seconds: Number(s.toFixed(2)),
      requests: f.counts.objectStoreRequests,
      epoch_requests: epoch,
      ...extra,
    });
    return [
      row("full (first) sync", full.seconds, full.result, epochPerChange, {
        io_floor_seconds: Number(floor.toFixed(2)),
        x_floor: Number((full.seconds / floor).toFixed(2)),
        peak_rss_mb: peakRssMb,
      }),
      row("no-op sync", noop.seconds, noop.result, 1),
      row("one tag changed", one.seconds, one.result, epochPerChange),
      row("full=true re-sync, nothing changed", rerun.seconds, rerun.result, epochPerChange),
    ];
  } finally {
    await db.close();
    await store.close();
  }
}

function runChild(job: ChildJob, extraEnv: Record<string, string>): Promise<Array<Record<string, string | number>>> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const nodeOptions = (process.env.EPOCH_BENCH_SYNC_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
    execFile(
      process.execPath,
      [...nodeOptions, "--import", "tsx", self, "--child", JSON.stringify(job)],
      { env: { ...process.env, ...extraEnv }, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${job.target}: ${stderr || err.message}`));
        resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as Array<Record<string, string | number>>);
      },
    );
  });
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
        await directoryTarget("mariadb + directory", `${mariadbUrl.replace(/^mysql:/, "mariadb:").replace(/\/?$/, "/")}${name}`);
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await admin.end();
      }
    }
    if (targets.includes("sqlite-s3")) {
      s3 = await startS3Server({ prefix: "bench" });
      await generate(s3.open({ retry: false }), s3Tags);
      rows.push(...(await runChild({ target: "sqlite + s3rver", tags: s3Tags, concurrency, storageUrl: s3.url, databaseUrl: `sqlite:${join(dir, "s3.db")}` }, s3.env)));
    }
    const sqliteFull = rows.find((r) => r.target === "sqlite + directory" && r.scenario === "full (first) sync");
    const goals = sqliteFull ? { within_2x_floor: Number(sqliteFull.x_floor) <= 2, rss_under_300mb: Number(sqliteFull.peak_rss_mb) < 300 } : {};
    const nodeOptions = process.env.EPOCH_BENCH_SYNC_NODE_OPTIONS ?? "";
    return { name: "sync", rows, json: { tags, s3_tags: s3Tags, concurrency, tags_per_repository: PER_REPOSITORY, node_options: nodeOptions, goals, rows } };
  } finally {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--child") {
  const rows = await measure(JSON.parse(process.argv[3]!) as ChildJob);
  process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.exit(0);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await run();
  console.table(result.rows);
  console.log(JSON.stringify({ bench: result.name, ...result.json }));
  process.exit(0);
}
