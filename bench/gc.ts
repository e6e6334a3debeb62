/**
 * Garbage collection (DESIGN §8.5, issue #16) on a generated registry: T tags of one image each
 * (a config and a layer blob of their own, so 2T referenced blob objects) and N = 2T orphan blobs.
 * In a fresh process per target (bench/gc-child.mjs on dist/): a full run — deletions per second
 * and delete requests per 1000 deletions, listing requests apart — against the bare deletes of the
 * same keys, put back and deleted again in the same process at the same batch size; its peak RSS;
 * then DeleteTag of one tag and an online run (its duration and requests, against the tag's objects
 * + 5). Goals: ≤ 1.5× the bare deletes; ≤ 1.05 delete requests per 1000 deletions on S3; online
 * < 1 s and ≤ objects + 5 requests; peak RSS < 300 MB.
 *
 *   npm run build && npx tsx bench/gc.ts                          # 10k orphans among 10k referenced
 *   EPOCH_BENCH_GC_ORPHANS=100000 npx tsx bench/gc.ts             # the scale
 *
 * Env: EPOCH_BENCH_GC_ORPHANS (10000; 1000 with --quick; 100000 is refused while the 1-minute load
 * average is 3 or more, unless EPOCH_BENCH_GC_FORCE=1), EPOCH_BENCH_GC_S3_ORPHANS (min(orphans, 10000):
 * s3rver is slow to fill), EPOCH_BENCH_GC_CONCURRENCY (16), EPOCH_BENCH_GC_TARGETS
 * (sqlite-dir,sqlite-s3,mariadb-dir), EPOCH_BENCH_MARIADB_URL, EPOCH_BENCH_GC_NODE_OPTIONS (flags for the
 * measuring process, e.g. "--cpu-prof" or "--trace-gc"), EPOCH_BENCH_GC_CHILD_OUT (a file the measuring
 * process's stdout is appended to, where --trace-gc writes). Creates and removes its own databases
 * and directories.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { appendFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { imageManifestBytes } from "../src/demo/demo-builder.js";
import { configureLogger } from "../src/logger.js";
import { emptyCatalogDocument, type RepositoryEntry } from "../src/storage/catalog.js";
import { DirectoryObjectStore } from "../src/storage/directory-store.js";
import type { ObjectStore } from "../src/storage/object-store.js";
import { blobKey, manifestDigestKey, manifestKey, RegistryLayout } from "../src/storage/registry-layout.js";
import { startS3Server, type TestS3Server } from "../test/helpers/s3-server.js";
import { type BenchResult, assertFreshBuild, isMain, printResult, quick } from "./bench-common.js";

const PER_REPOSITORY = 100;
const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

/** The content of orphan i (bench/gc-child.mjs puts them back with the same formula). */
const orphanBytes = (i: number) => Buffer.from(`orphan blob ${i} `.repeat(4));
const digestOf = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

function env(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
  return value;
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

interface Generated {
  tags: number;
  referenced: number;
  orphans: number;
  oneTag: { repository: string; tag: string; objects: number };
}

/** T tags with two blobs each, their manifests (tag key and _digests/), one catalog write, and 2T orphans. */
async function generate(store: ObjectStore, orphans: number, concurrency: number): Promise<Generated> {
  const tags = Math.max(1, Math.floor(orphans / 2));
  const doc = emptyCatalogDocument();
  const stamp = new Date().toISOString();
  doc.updatedAt = stamp;
  await pool(tags, concurrency, async (i) => {
    const repository = `gc/repo-${Math.floor(i / PER_REPOSITORY)}`;
    const tag = `t${i % PER_REPOSITORY}`;
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", n: i }));
    const layer = Buffer.from(`layer ${i} `.repeat(8));
    await store.put(blobKey(digestOf(config)), config);
    await store.put(blobKey(digestOf(layer)), layer);
    const manifest = imageManifestBytes({
      config: { digest: digestOf(config), size: config.length, mediaType: CONFIG },
      layers: [{ digest: digestOf(layer), size: layer.length, mediaType: LAYER }],
    });
    await store.put(manifestDigestKey(repository, digestOf(manifest)), manifest);
    await store.put(manifestKey(repository, tag), manifest);
    let entry = doc.repositories.get(repository) as RepositoryEntry | undefined;
    if (!entry) doc.repositories.set(repository, (entry = { tags: new Map(), updatedAt: stamp }));
    entry.tags.set(tag, manifestKey(repository, tag));
  });
  await new RegistryLayout(store).writeCatalog(doc);
  await pool(orphans, concurrency, (i) => store.put(blobKey(digestOf(orphanBytes(i))), orphanBytes(i)));
  // The tag the online run collects after: a config, a layer and its _digests/ manifest of its own.
  return { tags, referenced: 2 * tags, orphans, oneTag: { repository: "gc/repo-0", tag: "t1", objects: 3 } };
}

interface ChildJob extends Generated {
  phase: "index" | "collect";
  target: string;
  storageUrl: string;
  databaseUrl: string;
  concurrency: number;
}

function runChild(job: ChildJob, extraEnv: Record<string, string>): Promise<Array<Record<string, string | number>>> {
  const child = fileURLToPath(new URL("./gc-child.mjs", import.meta.url));
  return new Promise((resolve, reject) => {
    const nodeOptions = (process.env.EPOCH_BENCH_GC_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
    execFile(
      process.execPath,
      [...nodeOptions, child, JSON.stringify(job)],
      { env: { ...process.env, ...extraEnv }, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${job.target}: ${stderr || err.message}`));
        if (process.env.EPOCH_BENCH_GC_CHILD_OUT) appendFileSync(process.env.EPOCH_BENCH_GC_CHILD_OUT, stdout);
        resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as Array<Record<string, string | number>>);
      },
    );
  });
}

export async function run(): Promise<BenchResult> {
  assertFreshBuild();
  configureLogger(process.env.EPOCH_LOG_LEVEL ?? "warn");
  let orphans = env("EPOCH_BENCH_GC_ORPHANS", quick() ? 1_000 : 10_000);
  const load = loadavg()[0]!;
  if (orphans > 10_000 && load >= 3 && process.env.EPOCH_BENCH_GC_FORCE !== "1") {
    console.error(`load average ${load.toFixed(1)} ≥ 3: running 10000 orphans instead of ${orphans}`);
    orphans = 10_000;
  }
  const s3Orphans = env("EPOCH_BENCH_GC_S3_ORPHANS", Math.min(orphans, 10_000));
  const concurrency = env("EPOCH_BENCH_GC_CONCURRENCY", 16);
  const targets = (process.env.EPOCH_BENCH_GC_TARGETS ?? "sqlite-dir,sqlite-s3").split(",");
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-gc-"));
  let s3: TestS3Server | undefined;
  const rows: Array<Record<string, string | number>> = [];
  const measure = async (
    target: string,
    store: ObjectStore,
    n: number,
    storageUrl: string,
    databaseUrl: string,
    extraEnv: Record<string, string> = {},
  ) => {
    const started = performance.now();
    const generated = await generate(store, n, concurrency);
    console.error(
      `${target}: generated ${generated.tags} tags and ${n} orphans in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const job = { ...generated, target, storageUrl, databaseUrl, concurrency };
    await runChild({ ...job, phase: "index" }, extraEnv);
    // The generated files' and the index's dirty pages reach the disk now, not during the run.
    await new Promise((resolve) => execFile("sync", () => resolve(undefined)));
    rows.push(...(await runChild({ ...job, phase: "collect" }, extraEnv)));
  };
  try {
    if (targets.includes("sqlite-dir")) {
      const registry = join(dir, "registry");
      await measure(
        "sqlite + directory",
        new DirectoryObjectStore(registry, { durable: false }),
        orphans,
        `file:${registry}`,
        `sqlite:${join(dir, "dir.db")}`,
      );
      await rm(registry, { recursive: true, force: true });
    }
    if (targets.includes("mariadb-dir")) {
      const server = (process.env.EPOCH_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/").replace(/\/?$/, "/");
      const name = `epoch_bench_gc_${randomBytes(4).toString("hex")}`;
      const admin = await mysql.createConnection(server);
      try {
        await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
        const registry = join(dir, "registry-mariadb");
        await measure(
          "mariadb + directory",
          new DirectoryObjectStore(registry, { durable: false }),
          orphans,
          `file:${registry}`,
          `${server.replace(/^mysql:/, "mariadb:")}${name}`,
        );
        await rm(registry, { recursive: true, force: true });
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await admin.end();
      }
    }
    if (targets.includes("sqlite-s3")) {
      s3 = await startS3Server({ prefix: "bench-gc" });
      await measure(
        "sqlite + s3rver",
        s3.open({ retry: false }),
        s3Orphans,
        s3.url,
        `sqlite:${join(dir, "s3.db")}`,
        s3.env,
      );
    }
    const full = (target: string) => rows.find((r) => r.target === target && String(r.scenario).startsWith("full"));
    const online = (target: string) => rows.find((r) => r.target === target && String(r.scenario).startsWith("online"));
    const goals: Record<string, boolean> = {};
    for (const target of new Set(rows.map((r) => String(r.target)))) {
      const f = full(target);
      const o = online(target);
      if (f) goals[`${target}: within 1.5x bare deletes`] = Number(f.x_bare) <= 1.5;
      if (f) goals[`${target}: peak RSS < 300 MB`] = Number(f.peak_rss_mb) < 300;
      if (f && target.includes("s3"))
        goals[`${target}: <= 1.05 delete requests per 1000`] = Number(f.delete_requests_per_1000) <= 1.05;
      if (o) goals[`${target}: online < 1 s`] = Number(o.seconds) < 1;
      if (o) goals[`${target}: online requests <= objects + 5`] = Number(o.requests) <= Number(o.requests_goal);
    }
    return { name: "gc", rows, json: { orphans, s3_orphans: s3Orphans, concurrency, load_average: load, goals, rows } };
  } finally {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
