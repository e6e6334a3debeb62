/**
 * ValidateToken's hot path against an empty handler (goal: ≥ 0.9× its throughput), plus the
 * cache-miss path on MariaDB (goal: p50 < 1 ms) and memory after 1M invalid secrets.
 *
 * A server process (this file with `--serve`) registers the real TokenService (the definition
 * and handlers the server registers) and, beside it, a bench-only service whose one method
 * answers an empty ValidateTokenResponse at once, with ValidateToken's generated serializers
 * under another path. One client (one channel) then sends the same request to both at 1, 16 and
 * 64 calls in flight, in many short alternating rounds so a busy machine's drift hits both
 * alike. Beside wall-clock throughput it reports the server process's CPU time per call and the
 * median of the per-round throughput ratios, which a shared machine disturbs less.
 *
 * BENCH_AUTH=required puts both paths behind the server's authentication interceptor, as a
 * non-loopback deployment runs (every call carries a front end's bearer token).
 * BENCH_METRICS=on adds what EPOCH_METRICS_LISTEN adds to a call (the metrics interceptor and its
 * registry) to ValidateToken only: its ratio to the plain empty handler, against the ratio of a
 * run without it, is the metrics' cost (README, "Metrics").
 *
 *   npx tsx bench/validate-token.ts
 *   BENCH_CALLS=50000 BENCH_ROUNDS=3 BENCH_INVALID=1000000 BENCH_MARIADB_URL=mysql://root@127.0.0.1:3306/ …
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceError,
} from "@grpc/grpc-js";
import mysql from "mysql2/promise";
import {
  TokenServiceService,
  ValidateTokenResponse,
  type ValidateTokenRequest,
} from "epoch-meta-client/epoch/v1/token_service";
import { openDatabase, type Database } from "../src/db/data-source.js";
import { migrate } from "../src/db/migrate.js";
import { TokenStore } from "../src/db/tokens/token-store.js";
import { authInterceptor } from "../src/grpc/auth.js";
import { addGuardedService } from "../src/grpc/decode-guard.js";
import { metricsInterceptor } from "../src/grpc/metrics-interceptor.js";
import { EpochMetrics } from "../src/metrics/registry.js";
import { tokenServiceDefinition, tokenServiceServer } from "../src/grpc/token-service.js";
import { configureLogger } from "../src/logger.js";
import { generateSecret } from "../src/services/tokens/token-secret.js";
import { TokenService, type TokenServiceOptions } from "../src/services/tokens/token-service.js";
import { isMain, printResult } from "./bench-common.js";

export interface BenchResult {
  name: string;
  rows: Array<Record<string, string | number>>;
  json: Record<string, unknown>;
}

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const CALLS = env("BENCH_CALLS", 20_000);
const ROUNDS = env("BENCH_ROUNDS", 10);
const INVALID = env("BENCH_INVALID", 1_000_000);
const MISSES = env("BENCH_MISSES", 2_000);
const CONCURRENCY = [1, 16, 64];
const MARIADB = process.env.BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/";
const AUTH = process.env.BENCH_AUTH === "required";
const METRICS = process.env.BENCH_METRICS === "on";

const VALIDATE = TokenServiceService.validateToken;
const EMPTY_PATH = "/epoch.bench.Empty/ValidateToken";
const EMPTY_RESPONSE = ValidateTokenResponse.fromPartial({});

const SERVICE_DEFAULTS: TokenServiceOptions = {
  cacheSize: 10_000,
  cacheTtlMs: 300_000,
  negativeCacheSize: 1_000,
  staleMaxMs: 60_000,
  pollIntervalMs: 500,
  lastUsedFlushIntervalMs: 5_000,
};

async function openService(
  url: string,
  over: Partial<TokenServiceOptions> = {},
): Promise<{ db: Database; tokens: TokenService }> {
  const db = await openDatabase(url);
  await migrate(db);
  const tokens = new TokenService(new TokenStore(db), { ...SERVICE_DEFAULTS, ...over });
  await tokens.start();
  return { db, tokens };
}

/** The server process: both handlers on one grpc-js server; prints {port, secret} on stdout. */
async function serve(): Promise<void> {
  configureLogger("warn");
  const dir = mkdtempSync(join(tmpdir(), "epoch-bench-"));
  const { tokens } = await openService(`sqlite:${join(dir, "bench.db")}`);
  const { secret } = await tokens.create({ name: "bench", scopes: ["pull", "push"] });
  // The front end's own token (admin: the bench-only empty method falls under "everything else").
  const caller = AUTH ? (await tokens.create({ name: "front end", scopes: ["admin"] })).secret : "";
  // In the server's order (src/server.ts): metrics first, next to the transport. Only ValidateToken
  // pays for them, so its "vs empty" ratio measures their cost against the plain reference, in
  // the same alternating rounds (compare with the ratio of a run without BENCH_METRICS).
  const interceptors: ServerInterceptor[] = [];
  if (METRICS) {
    const measured = metricsInterceptor(new EpochMetrics({ tokenCache: () => tokens.validateCacheCounts() }));
    // grpc-js only needs the call interface back; the cast spares the reference a wrapping layer.
    interceptors.push((method, call) =>
      method.path === EMPTY_PATH ? (call as ServerInterceptingCall) : measured(method, call),
    );
  }
  if (AUTH) interceptors.push(authInterceptor(tokens));
  const server = new Server({ interceptors });
  // As src/server.ts registers it: behind the decode guard (an undecodable request answers INVALID_ARGUMENT).
  addGuardedService(server, tokenServiceDefinition, tokenServiceServer(tokens));
  server.addService(
    { validateToken: { ...VALIDATE, path: EMPTY_PATH, originalName: "ValidateToken" } },
    {
      validateToken: (_call: unknown, callback: (e: null, r: ValidateTokenResponse) => void) =>
        callback(null, EMPTY_RESPONSE),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  process.stdout.write(`${JSON.stringify({ port, secret, caller })}\n`);
  // Each line on stdin asks for this process's CPU time so far (µs), answered on stdout.
  process.stdin.on("data", () => process.stdout.write(`${JSON.stringify(process.cpuUsage())}\n`));
  process.stdin.on("end", () => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

interface Measured {
  calls: number;
  ms: number;
  latenciesUs: number[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** `calls` unary calls to `path` with `concurrency` in flight. */
async function load(
  client: Client,
  path: string,
  request: ValidateTokenRequest,
  concurrency: number,
  calls: number,
  caller = "",
): Promise<Measured> {
  const latenciesUs: number[] = [];
  let issued = 0;
  const metadata = () => {
    const md = new Metadata();
    if (caller) md.set("authorization", `Bearer ${caller}`);
    return md;
  };
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      client.makeUnaryRequest(
        path,
        VALIDATE.requestSerialize,
        VALIDATE.responseDeserialize,
        request,
        metadata(),
        (e: ServiceError | null) => {
          if (e) return reject(e);
          latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
          resolve();
        },
      );
    });
  const worker = async () => {
    while (issued < calls) {
      issued++;
      await one();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { calls, ms: performance.now() - start, latenciesUs };
}

interface ServerProcess {
  port: number;
  secret: string;
  /** The front end's bearer token under BENCH_AUTH=required, else "". */
  caller: string;
  /** The server's user+system CPU time so far, in µs. */
  cpu(): Promise<number>;
  stop(): void;
}

async function startServerProcess(): Promise<ServerProcess> {
  const tsx = pathToFileURL(
    join(fileURLToPath(new URL("..", import.meta.url)), "node_modules/tsx/dist/loader.mjs"),
  ).href;
  const child = spawn(process.execPath, ["--import", tsx, fileURLToPath(import.meta.url), "--serve"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let buffered = "";
  const waiting: Array<(line: string) => void> = [];
  child.stdout.on("data", (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const exited = new Promise<never>((_, reject) =>
    child.on("exit", (code) => reject(new Error(`bench server exited with ${code}`))),
  );
  const { port, secret, caller } = JSON.parse(await Promise.race([nextLine(), exited])) as {
    port: number;
    secret: string;
    caller: string;
  };
  return {
    port,
    secret,
    caller,
    cpu: async () => {
      const line = nextLine();
      child.stdin.write("cpu\n");
      const { user, system } = JSON.parse(await line) as { user: number; system: number };
      return user + system;
    },
    stop: () => child.stdin.end(),
  };
}

async function hotPath(rows: BenchResult["rows"], json: Record<string, unknown>): Promise<void> {
  const server = await startServerProcess();
  const client = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
  const request: ValidateTokenRequest = { secret: server.secret, repository: "team/app", action: "pull" };
  try {
    // Warm up both paths (JIT, connection, the token's cache entry).
    for (const path of [EMPTY_PATH, VALIDATE.path]) await load(client, path, request, 16, 5_000, server.caller);
    const results: Record<string, unknown>[] = [];
    for (const concurrency of CONCURRENCY) {
      const fresh = () => ({ calls: 0, ms: 0, cpuUs: 0, lat: [] as number[] });
      const sums = { empty: fresh(), validate: fresh() };
      const perRound = Math.max(1, Math.round(CALLS / ROUNDS));
      // Each round's ValidateToken/empty throughput ratio: their median shows how much of a
      // whole-run ratio is one round hit by a busy neighbour (reported beside it, not instead).
      const roundRatios: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const roundMs = { empty: 0, validate: 0 };
        // Alternate which path goes first, so slow drift of the machine hits both alike.
        const order = round % 2 === 0 ? (["empty", "validate"] as const) : (["validate", "empty"] as const);
        for (const which of order) {
          const cpu0 = await server.cpu();
          const m = await load(
            client,
            which === "empty" ? EMPTY_PATH : VALIDATE.path,
            request,
            concurrency,
            perRound,
            server.caller,
          );
          sums[which].cpuUs += (await server.cpu()) - cpu0;
          sums[which].calls += m.calls;
          sums[which].ms += m.ms;
          roundMs[which] = m.ms;
          sums[which].lat.push(...m.latenciesUs);
        }
        roundRatios.push(roundMs.empty / roundMs.validate);
      }
      const stats = (s: ReturnType<typeof fresh>) => {
        const sorted = s.lat.sort((a, b) => a - b);
        return {
          rps: Math.round(s.calls / (s.ms / 1000)),
          p50: Math.round(percentile(sorted, 50)),
          p99: Math.round(percentile(sorted, 99)),
          serverCpuUsPerCall: Number((s.cpuUs / s.calls).toFixed(1)),
        };
      };
      const empty = stats(sums.empty);
      const validate = stats(sums.validate);
      const ratio = Number((validate.rps / empty.rps).toFixed(3));
      const cpuRatio = Number((empty.serverCpuUsPerCall / validate.serverCpuUsPerCall).toFixed(3));
      const roundMedian = Number(
        percentile(
          roundRatios.sort((a, b) => a - b),
          50,
        ).toFixed(3),
      );
      const row = (path: string, s: typeof empty, calls: number, vs: number, cpuVs: number, roundVs: number) => ({
        path,
        concurrency,
        calls,
        "calls/s": s.rps,
        "p50 µs": s.p50,
        "p99 µs": s.p99,
        "vs empty": vs,
        "median round vs empty": roundVs,
        "server CPU µs/call": s.serverCpuUsPerCall,
        "CPU vs empty": cpuVs,
      });
      const authed = AUTH ? " + auth" : "";
      rows.push(row(`empty handler${authed}`, empty, sums.empty.calls, 1, 1, 1));
      rows.push(
        row(
          `ValidateToken (cached)${authed}${METRICS ? " + metrics" : ""}`,
          validate,
          sums.validate.calls,
          ratio,
          cpuRatio,
          roundMedian,
        ),
      );
      results.push({ concurrency, empty, validate, ratio, cpu_ratio: cpuRatio, median_round_ratio: roundMedian });
    }
    json.hot_path = results;
    json.hot_path_min_ratio = Math.min(...results.map((r) => r.ratio as number));
    json.hot_path_goal = 0.9;
    json.auth = AUTH ? "required" : "none";
    json.metrics = METRICS ? "on" : "off";
  } finally {
    client.close();
    server.stop();
  }
}

async function mariadbUrl(): Promise<string | null> {
  const u = new URL(MARIADB);
  const name = `epoch_bench_${process.pid}`;
  try {
    const conn = await mysql.createConnection({
      host: u.hostname,
      port: Number(u.port || 3306),
      user: decodeURIComponent(u.username || "root"),
      password: decodeURIComponent(u.password),
      connectTimeout: 3000,
    });
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``);
    await conn.end();
  } catch {
    return null;
  }
  u.pathname = `/${name}`;
  return u.toString();
}

/** Every call a miss: a one-entry cache round-robined over 100 tokens (2 round trips each). */
async function missPath(rows: BenchResult["rows"], json: Record<string, unknown>): Promise<void> {
  const url = await mariadbUrl();
  if (!url) {
    rows.push({ path: "ValidateToken miss (MariaDB)", note: "skipped: no MariaDB" });
    return;
  }
  const { db, tokens } = await openService(url, { cacheSize: 1 });
  try {
    const secrets: string[] = [];
    for (let i = 0; i < 100; i++) secrets.push((await tokens.create({ name: `miss${i}` })).secret);
    const lat: number[] = [];
    for (let i = 0; i < MISSES + 200; i++) {
      const t0 = process.hrtime.bigint();
      const v = await tokens.validate({ secret: secrets[i % secrets.length]!, repository: "", action: "pull" });
      if (!v.valid) throw new Error("a bench token did not validate");
      if (i >= 200) lat.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const loads = tokens.cacheStats().loads;
    lat.sort((a, b) => a - b);
    const p50 = Math.round(percentile(lat, 50));
    const p99 = Math.round(percentile(lat, 99));
    rows.push({
      path: "ValidateToken miss (MariaDB, service call)",
      concurrency: 1,
      calls: MISSES,
      "p50 µs": p50,
      "p99 µs": p99,
    });
    json.miss_path = { calls: MISSES, loads, p50_us: p50, p99_us: p99, goal_p50_us: 1000 };
  } finally {
    await tokens.stop();
    await db.ds.query(`DROP DATABASE \`${new URL(url).pathname.slice(1)}\``);
    await db.close();
  }
}

function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** RSS after many invalid secrets: junk of every shape plus well-formed unknown ones. */
async function invalidFlood(rows: BenchResult["rows"], json: Record<string, unknown>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "epoch-bench-"));
  const { db, tokens } = await openService(`sqlite:${join(dir, "flood.db")}`);
  try {
    const { secret } = await tokens.create({ name: "valid" });
    await tokens.validate({ secret, repository: "", action: "" });
    collectGarbage();
    const before = process.memoryUsage();
    const wellFormed = Math.min(20_000, INVALID / 10); // these reach the database, so fewer
    for (let i = 0; i < INVALID; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(INVALID, i + 1000); j++) {
        const junk =
          j < wellFormed
            ? generateSecret()
            : j % 2
              ? randomBytes(32).toString("base64")
              : `epm_${randomBytes(37).toString("base64url").slice(0, 49)}`;
        batch.push(tokens.validate({ secret: junk, repository: "", action: "pull" }));
      }
      await Promise.all(batch);
    }
    collectGarbage();
    const after = process.memoryUsage();
    const stats = tokens.cacheStats();
    const stillCached = stats.loads;
    await tokens.validate({ secret, repository: "", action: "" });
    const mb = (n: number) => Number((n / 2 ** 20).toFixed(1));
    rows.push({
      path: `after ${INVALID} invalid secrets`,
      "rss MB": mb(after.rss),
      "rss Δ MB": mb(after.rss - before.rss),
      "heap Δ MB": mb(after.heapUsed - before.heapUsed),
      "cache +/-": `${stats.positive}/${stats.negative}`,
    });
    json.invalid_flood = {
      secrets: INVALID,
      well_formed: wellFormed,
      rss_mb: mb(after.rss),
      rss_delta_mb: mb(after.rss - before.rss),
      heap_delta_mb: mb(after.heapUsed - before.heapUsed),
      positive_entries: stats.positive,
      negative_entries: stats.negative,
      valid_token_still_cached: tokens.cacheStats().loads === stillCached,
    };
  } finally {
    await tokens.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  configureLogger("warn");
  const rows: BenchResult["rows"] = [];
  const json: Record<string, unknown> = { calls_per_measurement: CALLS, rounds: ROUNDS };
  await hotPath(rows, json);
  await missPath(rows, json);
  await invalidFlood(rows, json);
  return { name: "validate-token", rows, json };
}

if (process.argv.includes("--serve")) {
  await serve();
} else if (isMain(import.meta)) {
  printResult(await run());
}
