/**
 * Event sinks through the real server: CloudEvents 1.0 (structured JSON) to a local HTTP receiver
 * that fails its first requests (retried with backoff, delivered in order, HMAC signature verified
 * here independently), and to the real NATS JetStream server of this machine (read back from a
 * JetStream consumer; a forced redelivery is dropped by Nats-Msg-Id). SQLite: the sinks do not
 * depend on the dialect (positions and leases are covered on both by the deliverer's SQL tests).
 */
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Metadata } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { sinkPositionName } from "../../src/db/events/sink-positions.js";
import { configureLogger } from "../../src/logger.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { call, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const NATS_URL = process.env.EPOCH_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

const createToken = (s: E2EServer, name: string) =>
  call<{ token?: { id: number } }>((cb) =>
    s.tokens.createToken({ name, createdBy: "", scopes: [], repositories: [], ttl: undefined }, new Metadata(), cb),
  );

async function eventually<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("webhook sink", () => {
  let receiver: Server;
  let url: string;
  const received: Array<{ status: number; body: string; headers: IncomingMessage["headers"] }> = [];
  let failNext = 0;
  let testDb: TestDatabase;
  let s: E2EServer;
  const secret = "whsec-test-" + randomBytes(8).toString("hex");

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const status = failNext > 0 ? (failNext--, 503) : 200;
        received.push({ status, body: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/epoch`;
  });
  afterAll(() => new Promise<void>((r) => receiver.close(() => r())));
  beforeEach(async () => {
    testDb = await createTestDatabase("sqlite");
  });
  afterEach(async () => {
    await s?.stop();
    await testDb.drop();
  });

  it("delivers every event once accepted, in order, signed, after the receiver's failures", async () => {
    failNext = 2;
    s = await startE2EServer({
      databaseUrl: testDb.url,
      env: { EPOCH_EVENTS_WEBHOOK_URL: url, EPOCH_EVENTS_WEBHOOK_SECRET: secret },
    });
    for (const name of ["a", "b", "c"]) await createToken(s, name);
    const ok = () => received.filter((r) => r.status === 200);
    await eventually(ok, (r) => r.length >= 3, "three accepted deliveries");
    expect(received.slice(0, 2).map((r) => r.status)).toEqual([503, 503]);
    const accepted = ok().map((r) => JSON.parse(r.body) as Record<string, unknown>);
    // At least once, in order: the accepted ids, without repeats, are 1, 2, 3.
    expect([...new Set(accepted.map((e) => e.id))]).toEqual(["1", "2", "3"]);
    expect(accepted[0]).toMatchObject({
      specversion: "1.0",
      id: "1",
      type: "io.epoch-meta.tokens.create",
      source: "/namespaces/default",
      subject: "token:1",
      datacontenttype: "application/json",
      data: { token: { id: 1, name: "a" } },
    });
    for (const r of received) {
      expect(r.headers["content-type"]).toMatch(/^application\/cloudevents\+json/);
      const expected = "sha256=" + createHmac("sha256", secret).update(r.body).digest("hex");
      expect(r.headers["x-epoch-signature"]).toBe(expected);
    }
    // The position is in the database: a restarted server resumes after it and sends nothing twice.
    await s.stop();
    const db = await openDatabase(testDb.url);
    const rows = await db.read("SELECT value FROM coordination WHERE name = ?", [sinkPositionName("webhook")]);
    await db.close();
    expect(Number(rows[0]!.value)).toBe(3);
    const before = ok().length;
    s = await startE2EServer({ databaseUrl: testDb.url, env: { EPOCH_EVENTS_WEBHOOK_URL: url } });
    await createToken(s, "d");
    await eventually(ok, (r) => r.length > before, "the next delivery");
    expect(JSON.parse(ok().at(-1)!.body).id).toBe("4");
  });
});

describe("NATS JetStream sink", () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  // A prefix and stream of this run's own: several runs share the machine's NATS server.
  const prefix = `epochtest${randomBytes(4).toString("hex")}`;
  const stream = prefix.toUpperCase();
  let testDb: TestDatabase;
  let s: E2EServer;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], duplicate_window: 120_000_000_000 });
  });
  afterAll(async () => {
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });
  beforeEach(async () => {
    testDb = await createTestDatabase("sqlite");
  });
  afterEach(async () => {
    await s?.stop();
    await testDb.drop();
  });

  it("publishes CloudEvents on epoch.<ns>.<topic>, and a forced redelivery is dropped by Nats-Msg-Id", async () => {
    s = await startE2EServer({
      databaseUrl: testDb.url,
      env: { EPOCH_EVENTS_NATS_URL: NATS_URL, EPOCH_EVENTS_NATS_SUBJECT_PREFIX: prefix },
    });
    const a = await createToken(s, "a");
    await call((cb) => s.tokens.deleteToken({ id: a.token!.id }, new Metadata(), cb));
    await eventually(
      async () => (await jsm.streams.info(stream)).state.messages,
      (n) => n >= 2,
      "2 messages",
    );

    // Forced redelivery: move the sink's position back, as a crash before recording it would.
    await s.stop();
    const db = await openDatabase(testDb.url);
    await db.ds.query("UPDATE coordination SET value = 0 WHERE name = ?", [sinkPositionName("nats")]);
    await db.close();
    s = await startE2EServer({
      databaseUrl: testDb.url,
      env: { EPOCH_EVENTS_NATS_URL: NATS_URL, EPOCH_EVENTS_NATS_SUBJECT_PREFIX: prefix },
    });
    await createToken(s, "b");
    await eventually(
      async () => (await jsm.streams.info(stream)).state.messages,
      (n) => n >= 3,
      "3 messages",
    );
    // Republished 1 and 2 were duplicates: the stream holds 3 messages, one per event.
    expect((await jsm.streams.info(stream)).state.messages).toBe(3);

    const consumer = await jsm.consumers.add(stream, { ack_policy: AckPolicy.None });
    const js = jetstream(nc);
    const messages = await (await js.consumers.get(stream, consumer.name)).fetch({ max_messages: 3, expires: 5000 });
    const got: Array<{ subject: string; msgId: string | undefined; body: Record<string, unknown> }> = [];
    for await (const m of messages) {
      got.push({ subject: m.subject, msgId: m.headers?.get("Nats-Msg-Id"), body: m.json() });
      if (got.length === 3) break;
    }
    expect(got.map((m) => [m.subject, m.msgId, m.body.id, m.body.type])).toEqual([
      [`${prefix}.default.tokens.create`, "1", "1", "io.epoch-meta.tokens.create"],
      [`${prefix}.default.tokens.delete`, "2", "2", "io.epoch-meta.tokens.delete"],
      [`${prefix}.default.tokens.create`, "3", "3", "io.epoch-meta.tokens.create"],
    ]);
    expect(got[0]!.body).toMatchObject({ specversion: "1.0", source: "/namespaces/default", subject: "token:1" });
  });
});
