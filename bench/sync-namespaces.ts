/**
 * Namespaces at scale (issue 15): the first sync of 10 namespaces of 10k tags each, all at once,
 * against the first sync of one namespace of 100k tags — the same tags, manifests and blobs
 * (writeScaleRegistry's `firstTag` splits one sequence into consecutive ranges), the same
 * database server, the same per-sync GET concurrency. Goal: ≤ 1.2× the single namespace. A third
 * row syncs the 10 namespaces 4 at a time, as the server's timer does. Each scenario runs the
 * compiled service in a fresh child process (bench/sync-namespaces-child.mjs) on a fresh
 * database, so its peak RSS is its own.
 *
 *   npm run build && npx tsx bench/sync-namespaces.ts               # 10 × 10k vs 1 × 100k
 *   npm run bench -- sync-namespaces --quick                         # 10 × 1k vs 1 × 10k
 *
 * Env: EPOCH_BENCH_NS_COUNT (10), EPOCH_BENCH_NS_TAGS (tags per namespace: 10000, 1000 with
 * --quick or EPOCH_BENCH_QUICK=1), EPOCH_BENCH_NS_TARGETS (mariadb; add sqlite for the embedded
 * database), EPOCH_BENCH_NS_ROUNDS (1: rounds of the three scenarios, interleaved; the median is
 * shown), EPOCH_BENCH_SYNC_CONCURRENCY (16), EPOCH_BENCH_MARIADB_URL
 * (mysql://root@127.0.0.1:3306/). Creates and removes its own databases and directories.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { writeScaleRegistry } from "../src/demo/demo-registry.js";
import { DirectoryObjectStore } from "../src/storage/directory-store.js";
import { type BenchResult, assertFreshBuild, isMain, printResult, quick } from "./bench-common.js";

const GOAL = 1.2;

interface Root {
  namespace: string;
  storageUrl: string;
  tags: number;
}

interface ChildResult {
  seconds: number;
  slowest: number;
  fastest: number;
  indexedTags: number;
  peakRssMb: number;
}

function env(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
  return value;
}

function runChild(job: { databaseUrl: string; concurrency: number; parallel: number; roots: Root[] }) {
  const child = fileURLToPath(new URL("./sync-namespaces-child.mjs", import.meta.url));
  return new Promise<ChildResult>((resolve, reject) => {
    execFile(process.execPath, [child, JSON.stringify(job)], { maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(stderr || err.message));
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult);
    });
  });
}

/** The run with the median wall time (the lower middle one for an even count). */
function median(runs: ChildResult[]): ChildResult {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor((runs.length - 1) / 2)]!;
}

/** A fresh database per scenario: a SQLite file, or a new MariaDB database dropped afterwards. */
async function withDatabase<T>(
  target: string,
  dir: string,
  mariadbUrl: string,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const name = `epoch_bench_ns_${randomBytes(4).toString("hex")}`;
  if (target === "sqlite") return fn(`sqlite:${join(dir, `${name}.db`)}`);
  const admin = await mysql.createConnection(mariadbUrl);
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    return await fn(`${mariadbUrl.replace(/^mysql:/, "mariadb:").replace(/\/?$/, "/")}${name}`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
  }
}

export async function run(): Promise<BenchResult> {
  assertFreshBuild();
  const count = env("EPOCH_BENCH_NS_COUNT", 10);
  const perNamespace = env("EPOCH_BENCH_NS_TAGS", quick() ? 1_000 : 10_000);
  const total = count * perNamespace;
  const concurrency = env("EPOCH_BENCH_SYNC_CONCURRENCY", 16);
  const rounds = env("EPOCH_BENCH_NS_ROUNDS", 1);
  const targets = (process.env.EPOCH_BENCH_NS_TARGETS ?? "mariadb").split(",");
  const mariadbUrl = process.env.EPOCH_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/";
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-ns-"));
  const rows: Array<Record<string, string | number>> = [];
  try {
    const generate = async (path: string, tags: number, firstTag: number) => {
      await writeScaleRegistry(new DirectoryObjectStore(path, { durable: false }), { tags, firstTag });
      return `file:${path}`;
    };
    const start = performance.now();
    const single: Root[] = [
      { namespace: "default", storageUrl: await generate(join(dir, "one"), total, 0), tags: total },
    ];
    const many: Root[] = [];
    for (let k = 0; k < count; k++) {
      const storageUrl = await generate(join(dir, `ns-${k}`), perNamespace, k * perNamespace);
      many.push({ namespace: `ns-${k}`, storageUrl, tags: perNamespace });
    }
    console.error(`generated 2 × ${total} tags in ${((performance.now() - start) / 1000).toFixed(1)} s`);

    for (const target of targets) {
      const scenario = (roots: Root[], parallel: number) =>
        withDatabase(target, dir, mariadbUrl, (databaseUrl) => runChild({ databaseUrl, concurrency, parallel, roots }));
      // Rounds interleave the scenarios, so load from elsewhere falls on all of them alike.
      const results: ChildResult[][] = [[], [], []];
      for (let round = 0; round < rounds; round++) {
        results[0]!.push(await scenario(single, 1));
        results[1]!.push(await scenario(many, count));
        results[2]!.push(await scenario(many, 4));
      }
      const [one, atOnce, fourAtATime] = results.map(median) as [ChildResult, ChildResult, ChildResult];
      const row = (name: string, namespaces: number, r: ChildResult) => {
        if (r.indexedTags !== total)
          throw new Error(`${target} ${name}: ${r.indexedTags} tags indexed, expected ${total}`);
        return {
          target,
          scenario: name,
          namespaces,
          tags: total,
          seconds: Number(r.seconds.toFixed(2)),
          x_one_namespace: Number((r.seconds / one.seconds).toFixed(2)),
          slowest_namespace_s: Number(r.slowest.toFixed(2)),
          fastest_namespace_s: Number(r.fastest.toFixed(2)),
          peak_rss_mb: r.peakRssMb,
        };
      };
      rows.push(
        row(`1 namespace × ${total}`, 1, one),
        row(`${count} × ${perNamespace}, all at once`, count, atOnce),
        row(`${count} × ${perNamespace}, 4 at a time (timer)`, count, fourAtATime),
      );
    }
    const goals = Object.fromEntries(
      rows
        .filter((r) => String(r.scenario).endsWith("all at once"))
        .map((r) => [`${r.target}_within_${GOAL}x`, Number(r.x_one_namespace) <= GOAL]),
    );
    return {
      name: "sync-namespaces",
      rows,
      json: { namespaces: count, tags_per_namespace: perNamespace, concurrency, rounds, goals, rows },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
