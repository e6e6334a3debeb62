/**
 * WatchEvents replay to one consumer (goal ≥ 100,000 events/s): 1M stored events (100k with
 * `--quick`), seeded with one bulk INSERT … SELECT, replayed from after_id 0 through the compiled
 * server in a process of its own (bench/serve-process.ts) to one generated client in this
 * process, which counts them until the last id. Two references are measured in the same run:
 * the feed's own read of the same rows on the same database (db/events `readEvents`, the pages
 * the server reads: no gRPC), and the gRPC floor — a server process (this file with
 * `--floor-serve`) that streams the same number of prebuilt WatchEventsResponse messages of the
 * same size through grpc-js and the generated codec, to the same client, doing nothing else. One
 * message per event is the API (DESIGN §8.6), so the floor bounds what any replay can reach here.
 *
 *   npm run build && npx tsx bench/watch-replay.ts [--quick]
 *
 * Env: EPOCH_BENCH_REPLAY_EVENTS (1000000 / 100000), EPOCH_BENCH_REPLAY_TARGETS (sqlite,mariadb),
 * EPOCH_BENCH_MARIADB_URL (mysql://root@127.0.0.1:3306/).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { credentials, Metadata, Server, ServerCredentials, status, type ServerWritableStream } from "@grpc/grpc-js";
import {
  Event,
  EventServiceClient,
  EventServiceService,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from "epoch-meta-client/epoch/v1/event_service";
import type { Database } from "../src/db/data-source.js";
import { readEvents } from "../src/db/events/event-store.js";
import { configureLogger } from "../src/logger.js";
import { benchDatabase, type BenchDialect } from "./bench-databases.js";
import { benchScale, scaled } from "./bench-scale.js";
import { seedEvents } from "./seed-events.js";
import { type BenchResult, assertFreshBuild, isMain, printResult } from "./bench-common.js";
import { startServeProcess } from "./serve-process.js";

const GOAL_PER_SECOND = 100_000;

/**
 * The reference: every row read in the feed's pages (500), decoded, no gRPC — a namespace's
 * pages (what a watch without all_namespaces reads, through the (namespace_id, id) index), or
 * every namespace's (the primary key's range).
 */
async function readFloor(db: Database, n: number, namespaceId: number | undefined): Promise<number> {
  const start = performance.now();
  let after = 0;
  while (after < n) {
    const page = await readEvents(db, { afterId: after, limit: 500, namespaceId });
    if (page.length === 0) throw new Error(`the table ends at ${after}, not ${n}`);
    after = page.at(-1)!.id;
  }
  return (performance.now() - start) / 1000;
}

/** WatchEvents from 0 until the event with id `n` arrives; the seconds it took. */
function watchAll(address: string, n: number): Promise<number> {
  const client = new EventServiceClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let seen = 0;
    const stream = client.watchEvents({ afterId: 0, filter: [], allNamespaces: false }, new Metadata());
    stream.on("data", (r: WatchEventsResponse) => {
      if (r.event!.id !== ++seen) {
        stream.cancel();
        reject(new Error(`event ${r.event!.id} arrived as number ${seen}`));
      } else if (seen === n) {
        const seconds = (performance.now() - start) / 1000;
        stream.cancel();
        client.close();
        resolve(seconds);
      }
    });
    stream.on("error", (e: { code?: number }) => {
      if (e.code !== status.CANCELLED) reject(e as Error);
    });
  });
}

/** The gRPC floor's server: `n` prebuilt events (ids 1…n, the seeded events' shape), as fast as grpc-js takes them. */
async function serveFloor(n: number): Promise<void> {
  const server = new Server();
  const template = Event.fromJSON({
    time: new Date().toISOString(),
    namespace: "default",
    topic: "/tags/create",
    subject: "library/app:t1000000",
    tag: {
      repository: "library/app",
      tag: "t1000000",
      digest: `sha256:${"0".repeat(64)}`,
      oldDigest: "",
      kind: "ARTIFACT_KIND_CONTAINER_IMAGE",
    },
  });
  server.addService(EventServiceService, {
    listEvents: (_call: unknown, callback: (e: null, r: unknown) => void) => callback(null, {}),
    watchEvents: async (call: ServerWritableStream<WatchEventsRequest, WatchEventsResponse>) => {
      for (let id = 1; id <= n && !call.cancelled; id++) {
        if (!call.write({ event: { ...template, id } })) await new Promise((r) => call.once("drain", r));
      }
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  process.stdout.write(`${port}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

/** Starts the floor server in a process of its own (as the real server runs); its address and a stop. */
async function startFloorProcess(n: number): Promise<{ address: string; stop(): void }> {
  const tsx = pathToFileURL(
    join(fileURLToPath(new URL("..", import.meta.url)), "node_modules/tsx/dist/loader.mjs"),
  ).href;
  const child = spawn(process.execPath, ["--import", tsx, fileURLToPath(import.meta.url), "--floor-serve", String(n)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
    child.once("exit", (code) => reject(new Error(`the floor server exited with ${code}`)));
  });
  return { address: `127.0.0.1:${port}`, stop: () => child.stdin.end() };
}

export async function run(): Promise<BenchResult> {
  assertFreshBuild();
  configureLogger(process.env.EPOCH_LOG_LEVEL ?? "warn");
  const n = scaled("EPOCH_BENCH_REPLAY_EVENTS", 1_000_000, 100_000);
  const targets = (process.env.EPOCH_BENCH_REPLAY_TARGETS ?? "sqlite,mariadb").split(",") as BenchDialect[];
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-replay-"));
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (const dialect of targets) {
      const target = await benchDatabase(dialect, dir, "replay");
      try {
        const seedStart = performance.now();
        await seedEvents(target.db, n);
        const seeded = (performance.now() - seedStart) / 1000;
        const [{ id: namespaceId }] = await target.db.read<{ id: unknown }>(
          "SELECT id FROM namespaces WHERE name = 'default'",
        );
        const floor = await readFloor(target.db, n, Number(namespaceId));
        const floorAll = await readFloor(target.db, n, undefined);
        const grpcServer = await startFloorProcess(n);
        let grpcFloor: number;
        try {
          grpcFloor = await watchAll(grpcServer.address, n);
        } finally {
          grpcServer.stop();
        }
        const server = await startServeProcess({ EPOCH_DATABASE_URL: target.url, EPOCH_STORAGE_URL: `file:${dir}` });
        let watched: number;
        try {
          watched = await watchAll(server.address, n);
        } finally {
          await server.stop();
        }
        rows.push({
          target: dialect,
          events: n,
          seed_seconds: Number(seeded.toFixed(1)),
          read_floor_per_s: Math.round(n / floor),
          read_all_namespaces_per_s: Math.round(n / floorAll),
          grpc_floor_per_s: Math.round(n / grpcFloor),
          watch_seconds: Number(watched.toFixed(2)),
          watch_per_s: Math.round(n / watched),
          of_grpc_floor: Number((grpcFloor / watched).toFixed(2)),
          goal_met: n / watched >= GOAL_PER_SECOND ? "yes" : "no",
        });
      } finally {
        await target.drop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { name: "watch-replay", rows, json: { scale: benchScale(), events: n, goal_per_s: GOAL_PER_SECOND, rows } };
}

const floorArg = process.argv.indexOf("--floor-serve");
if (floorArg >= 0) {
  await serveFloor(Number(process.argv[floorArg + 1]));
} else if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
