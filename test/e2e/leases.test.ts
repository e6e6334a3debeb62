/**
 * LeaseService end to end (DESIGN §8.3) on SQLite and MariaDB: the real server with
 * authentication, the generated client. CRUD with labels and update masks, ListLeases filters and
 * pages, expiry (set in the database, never waited for), resources added before they exist, the
 * /leases events, scopes (push/service manage their own leases, admin all of them, pull nothing),
 * namespace isolation, and DeleteNamespace refusing a namespace that holds a live lease.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import type { ListEventsResponse } from "epoch-meta-client/epoch/v1/event_service";
import {
  LeaseResourceKind,
  LeaseServiceClient,
  type Lease,
  type LeaseResource,
} from "epoch-meta-client/epoch/v1/lease_service";
import { NamespaceServiceClient } from "epoch-meta-client/epoch/v1/namespace_service";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const BLOB = LeaseResourceKind.LEASE_RESOURCE_KIND_BLOB;
const MANIFEST = LeaseResourceKind.LEASE_RESOURCE_KIND_MANIFEST;
const UPLOAD = LeaseResourceKind.LEASE_RESOURCE_KIND_UPLOAD;
const digest = (c: string) => `sha256:${c.repeat(64)}`;

forEachDialect("leases through the server", (dialect) => {
  let dir: string;
  let testDb: TestDatabase;
  let db: Database;
  let s: E2EServer;
  let leases: LeaseServiceClient;
  let namespaces: NamespaceServiceClient;
  const secrets: Record<"admin" | "push" | "push2" | "service" | "pull", string> = {
    admin: "",
    push: "",
    push2: "",
    service: "",
    pull: "",
  };

  const md = (who: keyof typeof secrets, namespace?: string) => callMetadata(secrets[who], namespace);
  const create = (id: string, labels: Record<string, string> = {}, who: keyof typeof secrets = "admin", ns?: string) =>
    call<{ lease?: Lease }>((cb) => leases.createLease({ id, labels, ttl: undefined }, md(who, ns), cb)).then(
      (r) => r.lease!,
    );
  const get = (id: string, who: keyof typeof secrets = "admin", ns?: string) =>
    call<{ lease?: Lease }>((cb) => leases.getLease({ id }, md(who, ns), cb)).then((r) => r.lease!);
  const list = (filter: string[], pageSize = 0, pageToken = "", who: keyof typeof secrets = "admin", ns?: string) =>
    call<{ leases: Lease[]; nextPageToken: string }>((cb) =>
      leases.listLeases({ pageSize, pageToken, filter }, md(who, ns), cb),
    );
  const ids = async (filter: string[], ns?: string) => (await list(filter, 0, "", "admin", ns)).leases.map((l) => l.id);
  const del = (id: string, who: keyof typeof secrets = "admin", ns?: string) =>
    call((cb) => leases.deleteLease({ id }, md(who, ns), cb));
  const add = (id: string, resource: LeaseResource, who: keyof typeof secrets = "admin") =>
    call((cb) => leases.addLeaseResource({ id, resource }, md(who), cb));
  const resources = (id: string, who: keyof typeof secrets = "admin") =>
    call<{ resources: LeaseResource[] }>((cb) => leases.listLeaseResources({ id }, md(who), cb)).then(
      (r) => r.resources,
    );
  const expire = (id: string) =>
    db.ds.query("UPDATE leases SET expires_at = ? WHERE id = ?", [
      dialect === "sqlite" ? "2000-01-01 00:00:00.000" : new Date("2000-01-01T00:00:00Z"),
      id,
    ]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-leases-"));
    testDb = await createTestDatabase(dialect);
    s = await startE2EServer({
      databaseUrl: testDb.url,
      storageUrl: `file:${dir}`,
      env: { EPOCH_AUTH: "required" },
    });
    leases = new LeaseServiceClient(s.address, credentials.createInsecure());
    namespaces = new NamespaceServiceClient(s.address, credentials.createInsecure());
    db = await openDatabase(testDb.url);
    const store = new TokenStore(db);
    secrets.admin = (await createToken(store, { name: "admin", scopes: ["admin"] })).secret;
    secrets.push = (await createToken(store, { name: "push", scopes: ["push"], repositories: ["team/*"] })).secret;
    secrets.push2 = (await createToken(store, { name: "push2", scopes: ["push"] })).secret;
    secrets.service = (await createToken(store, { name: "svc", scopes: ["service"] })).secret;
    secrets.pull = (await createToken(store, { name: "pull", scopes: ["pull"] })).secret;
  });
  afterAll(async () => {
    leases?.close();
    namespaces?.close();
    await db?.close();
    await s?.stop();
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates, gets, updates labels and deletes a lease; refuses duplicates and bad ids; writes events", async () => {
    const created = await create("build-1", { env: "prod", team: "a" });
    expect(created).toMatchObject({ id: "build-1", labels: { env: "prod", team: "a" }, expireTime: undefined });
    expect(created.createTime).toBeInstanceOf(Date);
    expect(await get("build-1")).toEqual(created);

    const withTtl = await call<{ lease?: Lease }>((cb) =>
      leases.createLease({ id: "", labels: {}, ttl: { seconds: 3600, nanos: 0 } }, md("admin"), cb),
    );
    // Generated id; expiry one hour after creation by the database clock.
    expect(withTtl.lease!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(withTtl.lease!.expireTime!.getTime() - withTtl.lease!.createTime!.getTime()).toBe(3_600_000);

    const dup = await callError(create("build-1"));
    expect([dup.code, dup.reason]).toEqual([status.ALREADY_EXISTS, "ERROR_REASON_LEASE_EXISTS"]);
    for (const bad of ["-x", "a..b", "a/b", "x".repeat(77), "é"]) {
      const e = await callError(create(bad));
      expect([bad, e.code, e.reason]).toEqual([bad, status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_NAME"]);
    }
    const badLabel = await callError(create("lbl", { "bad key": "x" }));
    expect(badLabel.reason).toBe("ERROR_REASON_INVALID_LABEL");
    const negative = await callError(
      call((cb) => leases.createLease({ id: "neg", labels: {}, ttl: { seconds: -1, nanos: 0 } }, md("admin"), cb)),
    );
    expect(negative.code).toBe(status.INVALID_ARGUMENT);

    const update = (labels: Record<string, string>, updateMask: string[]) =>
      call<{ lease?: Lease }>((cb) => leases.updateLease({ id: "build-1", labels, updateMask }, md("admin"), cb)).then(
        (r) => r.lease!.labels,
      );
    expect(await update({ tier: "1" }, ["labels.tier", "labels.team"])).toEqual({ env: "prod", tier: "1" });
    expect(await update({ only: "x" }, [])).toEqual({ only: "x" });
    expect((await get("build-1")).labels).toEqual({ only: "x" });
    const badMask = await callError(update({}, ["id"]));
    expect(badMask.reason).toBe("ERROR_REASON_INVALID_LABEL");

    await del("build-1");
    const gone = await callError(get("build-1"));
    expect([gone.code, gone.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_LEASE_NOT_FOUND"]);
    const again = await callError(del("build-1"));
    expect(again.reason).toBe("ERROR_REASON_LEASE_NOT_FOUND");

    const events = await call<ListEventsResponse>((cb) =>
      s.events.listEvents(
        { afterId: 0, pageSize: 0, pageToken: "", filter: ['topic~="^/leases/"'], allNamespaces: false },
        md("admin"),
        cb,
      ),
    );
    expect(events.events.map((e) => [e.topic, e.subject])).toEqual([
      ["/leases/create", "lease:build-1"],
      ["/leases/create", `lease:${withTtl.lease!.id}`],
      ["/leases/delete", "lease:build-1"],
    ]);
    const deleted = events.events[2]!.payload;
    expect(deleted?.$case === "lease" && deleted.lease).toEqual({ id: "build-1", labels: { only: "x" } });
    await del(withTtl.lease!.id);
  });

  it("lists leases in id order with label and field filters, page by page", async () => {
    await create("f-a", { env: "prod", team: "x" });
    await create("f-b", { env: "dev" });
    await create("f-c", { env: "prod" });
    await create("f-d", {});
    const all = ["f-a", "f-b", "f-c", "f-d"];
    expect(await ids([])).toEqual(all);
    expect(await ids(['labels."env"==prod'])).toEqual(["f-a", "f-c"]);
    expect(await ids(['labels."env"!=prod'])).toEqual(["f-b", "f-d"]);
    expect(await ids(['labels."team"'])).toEqual(["f-a"]);
    expect(await ids(['labels."env"~="^d"'])).toEqual(["f-b"]);
    expect(await ids(['labels."env"==prod,id!=f-a', "id==f-d"])).toEqual(["f-c", "f-d"]);
    const seen: string[] = [];
    let token = "";
    do {
      const page = await list(['labels."env"==prod'], 1, token);
      seen.push(...page.leases.map((l) => l.id));
      token = page.nextPageToken;
    } while (token !== "");
    expect(seen).toEqual(["f-a", "f-c"]);
    const reused = await callError(
      list(['labels."env"==dev'], 1, (await list(['labels."env"==prod'], 1)).nextPageToken),
    );
    expect(reused.reason).toBe("ERROR_REASON_INVALID_PAGE_TOKEN");
    const unknown = await callError(list(["name==x"]));
    expect(unknown.reason).toBe("ERROR_REASON_INVALID_FILTER");
    for (const id of all) await del(id);
  });

  it("an expired lease is gone for callers (get, list, resources) and its id can be taken again", async () => {
    await create("short", { k: "v" });
    await add("short", { kind: BLOB, id: digest("a") });
    await expire("short");
    expect((await callError(get("short"))).reason).toBe("ERROR_REASON_LEASE_NOT_FOUND");
    expect(await ids([])).not.toContain("short");
    expect((await callError(add("short", { kind: BLOB, id: digest("b") }))).reason).toBe(
      "ERROR_REASON_LEASE_NOT_FOUND",
    );
    expect((await create("short")).labels).toEqual({});
    expect(await resources("short")).toEqual([]);
    await del("short");
  });

  it("holds resources that do not exist yet; adding and removing are idempotent", async () => {
    await create("res");
    const items: LeaseResource[] = [
      { kind: BLOB, id: digest("b") },
      { kind: MANIFEST, id: digest("c") },
      { kind: UPLOAD, id: "some-upload" },
    ];
    for (const r of [...items, items[0]!]) await add("res", r);
    expect(await resources("res")).toEqual(items);
    await call((cb) => leases.deleteLeaseResource({ id: "res", resource: items[1] }, md("admin"), cb));
    await call((cb) => leases.deleteLeaseResource({ id: "res", resource: items[1] }, md("admin"), cb));
    expect(await resources("res")).toEqual([items[0], items[2]]);
    const badDigest = await callError(add("res", { kind: BLOB, id: "sha256:XYZ" }));
    expect([badDigest.code, badDigest.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_DIGEST"]);
    const noKind = await callError(
      add("res", { kind: LeaseResourceKind.LEASE_RESOURCE_KIND_UNSPECIFIED, id: digest("d") }),
    );
    expect(noKind.code).toBe(status.INVALID_ARGUMENT);
    const missing = await callError(
      call((cb) => leases.addLeaseResource({ id: "res", resource: undefined }, md("admin"), cb)),
    );
    expect(missing.code).toBe(status.INVALID_ARGUMENT);
    await del("res");
    expect((await callError(resources("res"))).reason).toBe("ERROR_REASON_LEASE_NOT_FOUND");
  });

  it("push and service tokens manage their own leases; admin all of them; ListLeases is admin's; pull nothing", async () => {
    const mine = await create("push-own", {}, "push");
    expect(mine.ownerTokenId).toBeGreaterThan(0);
    await add("push-own", { kind: BLOB, id: digest("e") }, "push");
    expect(await resources("push-own", "push")).toHaveLength(1);
    await create("svc-own", {}, "service");
    // Another token's lease reads as absent; the admin sees and deletes any.
    for (const who of ["push2", "service"] as const) {
      expect((await callError(get("push-own", who))).reason).toBe("ERROR_REASON_LEASE_NOT_FOUND");
      expect((await callError(del("push-own", who))).reason).toBe("ERROR_REASON_LEASE_NOT_FOUND");
    }
    expect((await callError(add("svc-own", { kind: BLOB, id: digest("e") }, "push"))).reason).toBe(
      "ERROR_REASON_LEASE_NOT_FOUND",
    );
    expect((await get("push-own", "admin")).id).toBe("push-own");
    const listed = await callError(list([], 0, "", "push"));
    expect([listed.code, listed.reason]).toEqual([status.PERMISSION_DENIED, "ERROR_REASON_PERMISSION_DENIED"]);
    for (const call of [create("pull-own", {}, "pull"), get("push-own", "pull")]) {
      const e = await callError(call);
      expect(e.code).toBe(status.PERMISSION_DENIED);
    }
    await del("push-own", "push");
    await del("svc-own", "admin");
    expect(await ids([])).toEqual([]);
  });

  it("leases belong to their namespace; DeleteNamespace refuses one that holds a live lease", async () => {
    await call((cb) => namespaces.createNamespace({ name: "blue", storageUrl: "", labels: {} }, md("admin"), cb));
    await create("same-id", { where: "blue" }, "admin", "blue");
    await create("same-id", { where: "default" });
    expect((await get("same-id", "admin", "blue")).labels).toEqual({ where: "blue" });
    expect((await get("same-id")).labels).toEqual({ where: "default" });
    expect(await ids([], "blue")).toEqual(["same-id"]);
    // A token of default (not a system admin) does not reach blue at all.
    expect((await callError(get("same-id", "push", "blue"))).code).toBe(status.UNAUTHENTICATED);

    const refused = await callError(call((cb) => namespaces.deleteNamespace({ name: "blue" }, md("admin"), cb)));
    expect([refused.code, refused.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_NAMESPACE_NOT_EMPTY"]);
    await expire("same-id");
    // Expired in both namespaces now (same id): an expired lease does not keep a namespace alive.
    await call((cb) => namespaces.deleteNamespace({ name: "blue" }, md("admin"), cb));
    const rows = await db.ds.query("SELECT COUNT(*) AS n FROM leases");
    expect(Number(rows[0].n)).toBe(1);
  });
});
