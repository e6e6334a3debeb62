/**
 * Event delivery to each sink — an HTTP webhook (a receiver in this process that accepts
 * everything) and NATS JetStream (the machine's server, a stream of this run's own) — by the
 * compiled server in a process of its own (bench/serve-process.ts), configured with that one sink:
 *
 * - throughput: a backlog of stored events (20,000; 2,000 with `--quick`) appears in one commit,
 *   and the sink's position is read until it reaches the last id (timed from its first move).
 *   The reference, measured in the same run, is the bare sink: the same CloudEvents sent one
 *   after the other from this process without a database (POSTs awaited one by one; publishes
 *   awaiting each JetStream ack), which is how the deliverer sends them (in order, each accepted
 *   before the next).
 * - under load: this process appends 1,000 events/s (10 per transaction every 10 ms, through
 *   appendEvents, as writers do) for 60 s (10 s small) while it samples the sink's lag every
 *   100 ms (db/events `sinkLags`, what the metrics report); then how long the sink takes to
 *   catch up once the writes stop.
 *
 *   npm run build && npx tsx bench/event-delivery.ts [--quick]
 *
 * Env: EPOCH_BENCH_DELIVERY_BACKLOG, EPOCH_BENCH_DELIVERY_SECONDS, EPOCH_BENCH_DELIVERY_RATE
 * (1000), EPOCH_BENCH_DELIVERY_TARGETS (sqlite,mariadb), EPOCH_BENCH_DELIVERY_SINKS
 * (webhook,nats), EPOCH_BENCH_NATS_URL (nats://127.0.0.1:4222), EPOCH_BENCH_MARIADB_URL.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Database } from "../src/db/data-source.js";
import { appendEvents, type NewEvent, type StoredEvent } from "../src/db/events/event-store.js";
import { sinkLags, sinkPositionName } from "../src/db/events/sink-positions.js";
import { writeTransaction } from "../src/db/write-transaction.js";
import { configureLogger } from "../src/logger.js";
import { structuredCloudEvent } from "../src/services/events/cloud-event.js";
import { natsSubject } from "../src/services/events/nats-sink.js";
import { benchDatabase, type BenchDialect } from "./bench-databases.js";
import { benchScale, median, percentile, scaled } from "./bench-scale.js";
import { seedEvents } from "./seed-events.js";
import { type BenchResult, assertFreshBuild, isMain, printResult } from "./bench-common.js";
import { startServeProcess } from "./serve-process.js";

type SinkName = "webhook" | "nats";

interface Destination {
  /** The server's EPOCH_EVENTS_* variables for this sink. */
  env: Record<string, string>;
  /** Sends `n` events the way the deliverer does, without a database: the reference. */
  bare(n: number): Promise<number>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function syntheticEvent(id: number): StoredEvent {
  return {
    id,
    namespaceId: 1,
    namespace: "default",
    time: new Date(),
    topic: "/tags/create",
    subject: `library/app:t${id}`,
    payload: {
      tag: {
        repository: "library/app",
        tag: `t${id}`,
        digest: `sha256:${id.toString(16).padStart(64, "0")}`,
        oldDigest: "",
        kind: "ARTIFACT_KIND_CONTAINER_IMAGE",
      },
    },
  };
}

async function timedSeconds(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

async function webhookDestination(): Promise<Destination> {
  const receiver: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end());
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  return {
    env: { EPOCH_EVENTS_WEBHOOK_URL: url, EPOCH_EVENTS_WEBHOOK_SECRET: "bench-secret" },
    bare: (n) =>
      timedSeconds(async () => {
        for (let id = 1; id <= n; id++) {
          const { headers, body } = structuredCloudEvent(syntheticEvent(id));
          const response = await fetch(url, { method: "POST", headers, body });
          await response.arrayBuffer();
        }
      }),
    close: () => new Promise<void>((r) => receiver.close(() => r())),
  };
}

async function natsDestination(): Promise<Destination> {
  const url = process.env.EPOCH_BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
  const prefix = `epochbench${randomBytes(4).toString("hex")}`;
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: prefix.toUpperCase(), subjects: [`${prefix}.>`] });
  const js = jetstream(nc);
  return {
    env: { EPOCH_EVENTS_NATS_URL: url, EPOCH_EVENTS_NATS_SUBJECT_PREFIX: prefix },
    bare: (n) =>
      timedSeconds(async () => {
        for (let id = 1; id <= n; id++) {
          const event = syntheticEvent(id);
          const { body } = structuredCloudEvent(event);
          // Ids of their own: the server's publishes must not be taken for duplicates of these.
          await js.publish(natsSubject(`${prefix}.bare`, event), body, { msgID: `bare-${id}` });
        }
      }),
    close: async () => {
      await jsm.streams.delete(prefix.toUpperCase()).catch(() => undefined);
      await nc.close();
    },
  };
}

async function sinkPosition(db: Database, sink: SinkName): Promise<number> {
  const rows = await db.read<{ value: unknown }>("SELECT value FROM coordination WHERE name = ?", [
    sinkPositionName(sink),
  ]);
  return Number(rows[0]?.value ?? 0);
}

async function waitForPosition(db: Database, sink: SinkName, id: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await sinkPosition(db, sink)) < id) {
    if (Date.now() > deadline) throw new Error(`${sink} did not reach event ${id} within ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

/** Appends `rate` events/s (10 per transaction) for `seconds`, sampling the sink's lag every 100 ms. */
async function underLoad(db: Database, sink: SinkName, rate: number, seconds: number) {
  const ns = Number((await db.read<{ id: unknown }>("SELECT id FROM namespaces WHERE name = 'default'"))[0]!.id);
  const perTick = 10;
  let written = 0;
  let last = 0;
  const lagEvents: number[] = [];
  const lagSeconds: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [lag] = await sinkLags(db, [sink]);
      lagEvents.push(lag!.events);
      lagSeconds.push(lag!.seconds);
      await sleep(100);
    }
  })();
  try {
    const start = performance.now();
    const total = rate * seconds;
    while (written < total) {
      // Catch up with the schedule: a slow tick is followed by a larger batch, so the rate holds.
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      if (due - written >= perTick || (due === total && due > written)) {
        const batch: NewEvent[] = Array.from({ length: due - written }, (_, i) => {
          const e = syntheticEvent(written + i + 1);
          // The name given, so the transaction's first statement is the id reservation, a write:
          // on SQLite a transaction that read first cannot become a writer while the server's
          // process commits its position (SQLITE_BUSY, not a wait).
          return { namespaceId: ns, namespace: "default", topic: e.topic, subject: e.subject, payload: e.payload };
        });
        const ids = await writeTransaction(db, (m) => appendEvents(m, db.dialect, batch));
        last = ids.at(-1)!;
        written = due;
      } else {
        await sleep(perTick * (1000 / rate));
      }
    }
    const writeSeconds = (performance.now() - start) / 1000;
    const drain = await timedSeconds(() => waitForPosition(db, sink, last, 300_000));
    return { written, writeSeconds, drain, lagEvents, lagSeconds };
  } finally {
    sampling = false;
    await sampler;
  }
}

export async function run(): Promise<BenchResult> {
  assertFreshBuild();
  configureLogger(process.env.EPOCH_LOG_LEVEL ?? "warn");
  const backlog = scaled("EPOCH_BENCH_DELIVERY_BACKLOG", 20_000, 2_000);
  const seconds = scaled("EPOCH_BENCH_DELIVERY_SECONDS", 60, 10);
  const rate = scaled("EPOCH_BENCH_DELIVERY_RATE", 1_000, 1_000);
  const targets = (process.env.EPOCH_BENCH_DELIVERY_TARGETS ?? "sqlite,mariadb").split(",") as BenchDialect[];
  const sinks = (process.env.EPOCH_BENCH_DELIVERY_SINKS ?? "webhook,nats").split(",") as SinkName[];
  const dir = await mkdtemp(join(tmpdir(), "epoch-bench-delivery-"));
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (const dialect of targets) {
      for (const sink of sinks) {
        const destination = sink === "webhook" ? await webhookDestination() : await natsDestination();
        try {
          const bare = await destination.bare(backlog);
          // Throughput: a fresh database, the server started first (its sink starts at the empty outbox), then the backlog.
          const drained = await benchDatabase(dialect, dir, `${sink}_drain`);
          let delivered: { events: number; seconds: number };
          try {
            const server = await startServeProcess({
              EPOCH_DATABASE_URL: drained.url,
              EPOCH_STORAGE_URL: `file:${dir}`,
              ...destination.env,
            });
            try {
              await seedEvents(drained.db, backlog);
              // Timed from the first delivery the position shows (the deliverer may be sleeping
              // out its 250 ms poll when the backlog commits: latency, not throughput).
              await waitForPosition(drained.db, sink, 1, 60_000);
              const first = await sinkPosition(drained.db, sink);
              const seconds = await timedSeconds(() => waitForPosition(drained.db, sink, backlog, 600_000));
              delivered = { events: backlog - first, seconds };
            } finally {
              await server.stop();
            }
          } finally {
            await drained.drop();
          }
          // Under a steady write load, on another fresh database.
          const loaded = await benchDatabase(dialect, dir, `${sink}_load`);
          try {
            const server = await startServeProcess({
              EPOCH_DATABASE_URL: loaded.url,
              EPOCH_STORAGE_URL: `file:${dir}`,
              ...destination.env,
            });
            try {
              const load = await underLoad(loaded.db, sink, rate, seconds);
              rows.push({
                target: dialect,
                sink,
                backlog,
                delivered_per_s: Math.round(delivered.events / delivered.seconds),
                bare_sink_per_s: Math.round(backlog / bare),
                of_bare: Number(((delivered.events / delivered.seconds) * (bare / backlog)).toFixed(2)),
                load_per_s: Math.round(load.written / load.writeSeconds),
                lag_events_p50: median(load.lagEvents),
                lag_events_p99: percentile(load.lagEvents, 99),
                lag_events_max: Math.max(...load.lagEvents),
                lag_s_p50: Number(median(load.lagSeconds).toFixed(3)),
                lag_s_p99: Number(percentile(load.lagSeconds, 99).toFixed(3)),
                catch_up_s: Number(load.drain.toFixed(2)),
              });
            } finally {
              await server.stop();
            }
          } finally {
            await loaded.drop();
          }
        } finally {
          await destination.close();
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    name: "event-delivery",
    rows,
    json: { scale: benchScale(), backlog, load_seconds: seconds, load_per_s: rate, rows },
  };
}

if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
