/**
 * The event metrics through the real server on SQLite and MariaDB, read by the Prometheus text
 * parser: `epoch_events_written_total{topic}` moves by the events each change wrote (a sync,
 * tokens); with a webhook receiver that refuses and a NATS sink whose stream does not exist yet,
 * each sink's `epoch_events_sink_lag_events` is every event written and its lag in seconds is
 * positive; once each destination accepts, its lag drops to 0 on its own while the other's stays,
 * and `epoch_events_delivered_total{sink}` counts what it took.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { configureLogger } from "../../src/logger.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { writeRegistryFixture, type RegistryFixture } from "../fixtures/registry-fixture.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { requirePrometheusParser, scrape, type Scrape } from "../helpers/prometheus.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const NATS_URL = process.env.EPOCH_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const parser = requirePrometheusParser("event metrics scrapes");

async function eventually(read: () => Promise<Scrape>, ok: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  // Generous: a sink's retries back off up to 30 s between attempts.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

forEachDialect("event metrics", (dialect) => {
  let dir: string;
  let fx: RegistryFixture;
  let testDb: TestDatabase;
  let s: E2EServer;
  let receiver: Server;
  let accepting = false;
  let accepted = 0;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  // This run's own subjects and stream: several runs share the machine's NATS server.
  const prefix = `epochmetrics${randomBytes(4).toString("hex")}`;
  const stream = prefix.toUpperCase();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-event-metrics-"));
    fx = await writeRegistryFixture(new DirectoryObjectStore(dir, { durable: false }));
    receiver = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (accepting) accepted++;
        res.writeHead(accepting ? 200 : 503).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    testDb = await createTestDatabase(dialect);
    s = await startE2EServer({
      databaseUrl: testDb.url,
      storageUrl: `file:${dir}`,
      env: {
        EPOCH_METRICS_LISTEN: "127.0.0.1:0",
        EPOCH_EVENTS_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        EPOCH_EVENTS_NATS_URL: NATS_URL,
        EPOCH_EVENTS_NATS_SUBJECT_PREFIX: prefix,
      },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await testDb?.drop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.runIf(parser)("events written by topic, each sink's lag and deliveries", async () => {
    const address = s.app.metrics!.address;
    const before = await scrape(address);
    expect(before.find("epoch_events_written_total")).toEqual([]);
    for (const sink of ["webhook", "nats"]) {
      expect(before.value("epoch_events_sink_lag_events", { sink }), sink).toBe(0);
      expect(before.value("epoch_events_sink_lag_seconds", { sink }), sink).toBe(0);
    }

    await collect(s.metadata.syncFromCatalog({ full: false, dryRun: false, allowMassRemoval: false }, new Metadata()));
    for (const name of ["a", "b"]) {
      await call((cb) =>
        s.tokens.createToken({ name, createdBy: "", scopes: [], repositories: [], ttl: undefined }, new Metadata(), cb),
      );
    }
    const written = await scrape(address);
    const expected = {
      "/repositories/create": fx.repositories.length,
      "/tags/create": fx.indexable.length,
      "/sync/finished": 1,
      "/tokens/create": 2,
    };
    for (const [topic, n] of Object.entries(expected))
      expect(written.value("epoch_events_written_total", { topic }), topic).toBe(n);
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    expect(written.sum("epoch_events_written_total")).toBe(total);
    // Neither destination has taken anything: both are behind by every event.
    for (const sink of ["webhook", "nats"]) {
      expect(written.value("epoch_events_sink_lag_events", { sink }), sink).toBe(total);
      expect(written.value("epoch_events_delivered_total", { sink }), sink).toBe(0);
    }
    const aged = await eventually(
      () => scrape(address),
      (x) => x.value("epoch_events_sink_lag_seconds", { sink: "webhook" }) > 0,
      "a positive lag in seconds",
    );
    expect(aged.value("epoch_events_sink_lag_seconds", { sink: "nats" })).toBeGreaterThan(0);

    // The webhook starts accepting: its lag goes to 0, the NATS sink's does not move.
    accepting = true;
    // Both at once: the lag comes from the stored position, the delivered count from the deliverer,
    // which adds to it just after the position's commit, so a scrape can fall between the two.
    const webhookDone = await eventually(
      () => scrape(address),
      (x) =>
        x.value("epoch_events_sink_lag_events", { sink: "webhook" }) === 0 &&
        x.value("epoch_events_delivered_total", { sink: "webhook" }) === total,
      "the webhook to catch up",
    );
    expect(webhookDone.value("epoch_events_sink_lag_seconds", { sink: "webhook" })).toBe(0);
    expect(webhookDone.value("epoch_events_delivered_total", { sink: "webhook" })).toBe(total);
    expect(accepted).toBe(total);
    expect(webhookDone.value("epoch_events_sink_lag_events", { sink: "nats" })).toBe(total);

    // A stream now captures the subjects: NATS catches up too.
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
    const natsDone = await eventually(
      () => scrape(address),
      (x) =>
        x.value("epoch_events_sink_lag_events", { sink: "nats" }) === 0 &&
        x.value("epoch_events_delivered_total", { sink: "nats" }) === total,
      "NATS to catch up",
    );
    expect(natsDone.value("epoch_events_delivered_total", { sink: "nats" })).toBe(total);
    expect((await jsm.streams.info(stream)).state.messages).toBe(total);
  });
});
