/**
 * The token service against a real database, on SQLite and MariaDB: every operation and every
 * invalid reason, the bounded caches under a flood, no per-validation write (statement counts),
 * the validation/delete race through the named pause points, cross-replica revocation, and the
 * stale bound with the database cut (a TCP proxy on MariaDB, a failing connection on SQLite).
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../../src/db/data-source.js";
import type { TokenRow } from "../../../../src/db/entities/index.js";
import { TOKEN_GENERATION, TokenStore } from "../../../../src/db/tokens/token-store.js";
import { isEpochError } from "../../../../src/errors.js";
import { configureLogger } from "../../../../src/logger.js";
import { generateSecret, hashSecret } from "../../../../src/services/tokens/token-secret.js";
import { TokenService, type TokenServiceOptions } from "../../../../src/services/tokens/token-service.js";
import { createMigratedDatabase, forEachDialect, type TestDatabase } from "../../../helpers/database.js";
import { gate } from "../../../helpers/pause-gate.js";
import { StatementCounter } from "../../../helpers/statement-counter.js";
import { startTcpProxy, type TcpProxy } from "../../../helpers/tcp-proxy.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const WRITES = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;
const DAY = 86_400_000;

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    if (isEpochError(e)) return `${e.kind}/${e.reason}`;
    throw e;
  }
  throw new Error("expected a failure");
}

/** A well-formed secret no token has: random body, valid checksum. */
const unknownSecret = () => generateSecret();

forEachDialect("TokenService", (dialect) => {
  const counter = new StatementCounter();
  let db: Database;
  let test: TestDatabase;
  let cleanup: () => Promise<void>;
  const clock = { t: Date.now() };
  const extra: Database[] = [];
  const services: TokenService[] = [];

  const options = (over: Partial<TokenServiceOptions> = {}): TokenServiceOptions => ({
    cacheSize: 100,
    cacheTtlMs: 300_000,
    negativeCacheSize: 100,
    staleMaxMs: 60_000,
    pollIntervalMs: 500,
    lastUsedFlushIntervalMs: 5_000,
    now: () => clock.t,
    ...over,
  });
  const serviceOn = (on: Database, over: Partial<TokenServiceOptions> = {}) => {
    const s = new TokenService(new TokenStore(on), options(over));
    services.push(s);
    return s;
  };
  /** A second replica: its own connection pool on the same database. */
  const openReplica = async (url = test.url) => {
    const other = await openDatabase(url);
    extra.push(other);
    return other;
  };
  const generation = () => new TokenStore(db).readGeneration();

  beforeAll(async () => {
    ({ db, test, cleanup } = await createMigratedDatabase(dialect, { logger: counter }));
  });
  afterAll(async () => {
    await cleanup();
  });
  beforeEach(async () => {
    clock.t = Date.now();
    await db.ds.query("DELETE FROM tokens");
    counter.reset();
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop().catch(() => undefined);
    for (const d of extra.splice(0)) await d.close().catch(() => undefined);
  });

  describe("CreateToken", () => {
    it("returns the secret once and stores only its SHA-256", async () => {
      const svc = serviceOn(db);
      const { token, secret } = await svc.create({
        name: "ci",
        createdBy: "alice",
        scopes: ["push", "pull", "push"],
        repositories: ["team/*"],
      });
      expect(secret).toMatch(/^epm_[0-9A-Za-z]{49}$/);
      expect(token).toMatchObject({
        name: "ci",
        createdBy: "alice",
        scopes: ["pull", "push"],
        repositories: ["team/*"],
        expireTime: undefined,
      });
      expect(token.id).toBeGreaterThan(0);
      const rows = await db.ds.getRepository<TokenRow>("Token").find();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.tokenHash).toBe(createHash("sha256").update(secret).digest("hex"));
      expect(JSON.stringify(rows)).not.toContain(secret);
    });

    it("defaults to pull, allows an empty created_by and sets the expiry from the ttl", async () => {
      const svc = serviceOn(db);
      const { token } = await svc.create({ name: "x", ttlMs: DAY });
      expect(token.scopes).toEqual(["pull"]);
      expect(token.createdBy).toBe("");
      expect(token.expireTime?.getTime()).toBe(clock.t + DAY);
      const { token: forever } = await svc.create({ name: "y", ttlMs: 0 });
      expect(forever.expireTime).toBeUndefined();
      const { token: unicode } = await svc.create({ name: "ünïcødé 🚀 名前", createdBy: "b".repeat(255) });
      expect(unicode.name).toBe("ünïcødé 🚀 名前");
      const listed = await svc.list({ pageSize: 0, pageToken: "" });
      expect(listed.tokens.map((t) => t.name)).toEqual(["x", "y", "ünïcødé 🚀 名前"]);
      expect(listed.tokens[0]!.expireTime?.getTime()).toBe(clock.t + DAY);
    });

    it("refuses invalid input before writing anything", async () => {
      const svc = serviceOn(db);
      counter.reset();
      const bad: Array<[Parameters<TokenService["create"]>[0], string]> = [
        [{ name: "" }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "n".repeat(256) }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "tab\there" }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "line\u2028break" }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "bidi\u202e" }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "ok", createdBy: "c".repeat(256) }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "ok", createdBy: "nul\u0000" }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "ok", scopes: ["read"] }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "ok", ttlMs: -1 }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "ok", ttlMs: 10 * 366 * DAY }, "invalid_argument/INVALID_ARGUMENT"],
        [{ name: "ok", repositories: ["Upper/*"] }, "invalid_argument/INVALID_NAME"],
      ];
      for (const [input, reason] of bad) expect(await failure(svc.create(input)), JSON.stringify(input)).toBe(reason);
      expect(counter.count).toBe(0);
      await expect(svc.create({ name: "n".repeat(255), ttlMs: 10 * 365 * DAY })).resolves.toBeTruthy();
    });
  });

  describe("ListTokens", () => {
    it("pages by id with opaque page tokens and never returns secrets or hashes", async () => {
      const svc = serviceOn(db);
      const created = [];
      for (let i = 0; i < 5; i++) created.push(await svc.create({ name: `t${i}` }));
      const seen: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await svc.list({ pageSize: 2, pageToken });
        pages++;
        seen.push(...page.tokens.map((t) => t.name));
        const text = JSON.stringify(page);
        for (const c of created) {
          expect(text).not.toContain(c.secret);
          expect(text).not.toContain(hashSecret(c.secret));
        }
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      expect(seen).toEqual(["t0", "t1", "t2", "t3", "t4"]);
      expect(pages).toBe(3);
    });

    it("applies the page size rules and refuses foreign or malformed page tokens", async () => {
      const svc = serviceOn(db);
      const rows = Array.from({ length: 1001 }, (_, i) => ({
        namespaceId: 1,
        name: `bulk${i}`,
        tokenHash: hashSecret(`bulk${i}`),
        createdBy: "",
        createdAt: new Date(clock.t),
        lastUsed: null,
        expiresAt: null,
        scopes: "pull",
        repositories: [],
      }));
      for (let i = 0; i < rows.length; i += 200)
        await db.ds.getRepository<TokenRow>("Token").insert(rows.slice(i, i + 200));
      expect((await svc.list({ pageSize: 0, pageToken: "" })).tokens).toHaveLength(100);
      const clamped = await svc.list({ pageSize: 5000, pageToken: "" });
      expect(clamped.tokens).toHaveLength(1000);
      expect(clamped.nextPageToken).not.toBe("");
      const rest = await svc.list({ pageSize: 5000, pageToken: clamped.nextPageToken });
      expect(rest.tokens.map((t) => t.name)).toEqual(["bulk1000"]);
      expect(rest.nextPageToken).toBe("");
      expect(await failure(svc.list({ pageSize: -1, pageToken: "" }))).toBe("invalid_argument/INVALID_PAGE_SIZE");
      for (const token of [
        "garbage!",
        "eyJ4IjoxfQ",
        Buffer.from(JSON.stringify({ q: "repositories.name", after: 3 })).toString("base64url"),
        "x".repeat(500),
      ]) {
        expect(await failure(svc.list({ pageSize: 0, pageToken: token }))).toBe("invalid_argument/INVALID_PAGE_TOKEN");
      }
    });
  });

  describe("DeleteToken", () => {
    it("deletes the row and bumps the generation; an unknown id is NOT_FOUND", async () => {
      const svc = serviceOn(db);
      const { token, secret } = await svc.create({ name: "gone" });
      expect((await svc.validate({ secret, repository: "", action: "" })).valid).toBe(true);
      const before = await generation();
      await svc.delete(token.id);
      expect(await generation()).toBe(before + 1);
      expect(await svc.validate({ secret, repository: "", action: "" })).toEqual({
        valid: false,
        reason: "UNKNOWN_TOKEN",
      });
      expect(await failure(svc.delete(token.id))).toBe("not_found/TOKEN_NOT_FOUND");
      expect(await failure(svc.delete(0))).toBe("not_found/TOKEN_NOT_FOUND");
      expect(await generation()).toBe(before + 1);
    });
  });

  describe("ValidateToken", () => {
    it("answers valid with the token, and every invalid reason", async () => {
      const svc = serviceOn(db);
      const { token, secret } = await svc.create({
        name: "puller",
        scopes: ["pull"],
        repositories: ["team/*", "base"],
        ttlMs: 60_000,
      });
      const v = (s: string, repository: string, action: string) => svc.validate({ secret: s, repository, action });
      expect(await v(secret, "team/app", "pull")).toEqual({ valid: true, token });
      expect(await v(secret, "team/a/b", "pull")).toMatchObject({ valid: true });
      expect(await v(secret, "", "")).toMatchObject({ valid: true });
      expect(await v(secret, "base", "")).toMatchObject({ valid: true });
      expect(await v(secret, "team/app", "push")).toEqual({ valid: false, token, reason: "SCOPE_DENIED" });
      expect(await v(secret, "team/app", "delete")).toMatchObject({ valid: false, reason: "SCOPE_DENIED" });
      expect(await v(secret, "other/app", "pull")).toMatchObject({ valid: false, reason: "SCOPE_DENIED" });
      expect(await v(secret, "other", "")).toMatchObject({ valid: false, reason: "SCOPE_DENIED" });
      expect(await v(unknownSecret(), "team/app", "pull")).toEqual({ valid: false, reason: "UNKNOWN_TOKEN" });
      expect(await v("not-a-token", "team/app", "pull")).toEqual({ valid: false, reason: "MALFORMED" });
      clock.t += 60_000; // expired now, still in the cache (TTL 5 min)
      await svc.refresh(); // keeps the cache fresh across the jump of the fake clock
      counter.reset();
      expect(await v(secret, "team/app", "pull")).toEqual({ valid: false, token, reason: "EXPIRED" });
      expect(counter.count).toBe(0); // refused from the cached record
    });

    it("grants every action to admin; scopes are independent", async () => {
      const svc = serviceOn(db);
      const admin = await svc.create({ name: "a", scopes: ["admin"] });
      const pusher = await svc.create({ name: "p", scopes: ["push"] });
      for (const action of ["pull", "push", "delete"]) {
        expect((await svc.validate({ secret: admin.secret, repository: "any/repo", action })).valid).toBe(true);
      }
      expect((await svc.validate({ secret: pusher.secret, repository: "r", action: "pull" })).reason).toBe(
        "SCOPE_DENIED",
      );
      expect((await svc.validate({ secret: pusher.secret, repository: "r", action: "push" })).valid).toBe(true);
    });

    it("refuses an unknown action or an invalid repository as a caller bug, before any lookup", async () => {
      const svc = serviceOn(db);
      const { secret } = await svc.create({ name: "x" });
      counter.reset();
      expect(await failure(svc.validate({ secret, repository: "", action: "admin" }))).toBe(
        "invalid_argument/INVALID_ARGUMENT",
      );
      expect(await failure(svc.validate({ secret: "junk", repository: "", action: "write" }))).toBe(
        "invalid_argument/INVALID_ARGUMENT",
      );
      expect(await failure(svc.validate({ secret, repository: "Bad/Name", action: "pull" }))).toBe(
        "invalid_argument/INVALID_NAME",
      );
      expect(counter.count).toBe(0);
    });

    it("rejects malformed secrets without a query, a cache entry or a hash lookup", async () => {
      const svc = serviceOn(db);
      const good = generateSecret();
      const malformed = [
        "",
        `epx_${good.slice(4)}`,
        `${good.slice(0, -1)}${good.endsWith("0") ? "1" : "0"}`,
        good.slice(0, -1),
        `${good.slice(0, 20)}é${good.slice(21)}`,
        "A".repeat(64),
        "x".repeat(1024 * 1024),
      ];
      counter.reset();
      for (const secret of malformed)
        expect(await svc.validate({ secret, repository: "", action: "pull" })).toEqual({
          valid: false,
          reason: "MALFORMED",
        });
      expect(counter.count).toBe(0);
      expect(svc.cacheStats()).toMatchObject({ positive: 0, negative: 0, loads: 0 });
    });

    it("validates Epoch's legacy 64-hex secrets stored as SHA-256 hex", async () => {
      const svc = serviceOn(db);
      const legacy = randomBytes(32).toString("hex");
      await db.ds.getRepository<TokenRow>("Token").insert({
        namespaceId: 1,
        name: "epoch",
        tokenHash: hashSecret(legacy),
        createdBy: "",
        createdAt: new Date(clock.t),
        lastUsed: null,
        expiresAt: null,
        scopes: "pull,push,delete",
        repositories: [],
      });
      expect(await svc.validate({ secret: legacy, repository: "any", action: "push" })).toMatchObject({
        valid: true,
        token: { name: "epoch" },
      });
      expect(await svc.lookup(legacy)).toMatchObject({ scopes: ["pull", "push", "delete"] });
    });

    it("serves the token lookup of API authentication from the same cache", async () => {
      const svc = serviceOn(db);
      const { token, secret } = await svc.create({ name: "svc", scopes: ["service"], ttlMs: DAY });
      expect(await svc.lookup(secret)).toMatchObject({ id: token.id, scopes: ["service"] });
      counter.reset();
      expect(await svc.validate({ secret, repository: "", action: "" })).toMatchObject({ valid: true });
      expect(counter.count).toBe(0);
      expect(await svc.lookup("junk")).toBeNull();
      expect(await svc.lookup(unknownSecret())).toBeNull();
      clock.t += DAY;
      await svc.refresh();
      expect(await svc.lookup(secret)).toBeNull();
    });
  });

  describe("InvalidateTokenCache", () => {
    it("bumps the generation and empties the caches", async () => {
      const svc = serviceOn(db);
      const { secret } = await svc.create({ name: "x" });
      await svc.validate({ secret, repository: "", action: "" });
      await svc.validate({ secret: unknownSecret(), repository: "", action: "" });
      expect(svc.cacheStats()).toMatchObject({ positive: 1, negative: 1 });
      const before = await generation();
      await svc.invalidateCache();
      expect(await generation()).toBe(before + 1);
      expect(svc.cacheStats()).toMatchObject({ positive: 0, negative: 0 });
      counter.reset();
      await svc.validate({ secret, repository: "", action: "" });
      expect(counter.count).toBe(2); // generation read + SELECT: it was a miss
    });
  });

  describe("last_used", () => {
    it("10,000 validations cause no write; one flush writes one statement", async () => {
      const svc = serviceOn(db);
      const a = await svc.create({ name: "a" });
      const b = await svc.create({ name: "b" });
      await svc.validate({ secret: a.secret, repository: "", action: "" });
      await svc.validate({ secret: b.secret, repository: "", action: "" });
      counter.reset();
      for (let i = 0; i < 10_000; i++) {
        clock.t += 1;
        const r = await svc.validate({ secret: i % 2 ? a.secret : b.secret, repository: "", action: "pull" });
        expect(r.valid).toBe(true);
      }
      expect(counter.count).toBe(0);
      await svc.flushLastUsed();
      expect(counter.matching(WRITES)).toHaveLength(1);
      expect(counter.count).toBe(1);
      const rows = await db.ds.getRepository<TokenRow>("Token").find({ order: { id: "ASC" } });
      expect(rows.map((r) => r.lastUsed?.getTime())).toEqual([clock.t, clock.t - 1]);
      // Nothing pending: a flush sends nothing.
      counter.reset();
      await svc.flushLastUsed();
      expect(counter.count).toBe(0);
    });

    it("never moves backwards, across replicas", async () => {
      const first = serviceOn(db);
      const { token, secret } = await first.create({ name: "a" });
      const later = clock.t + 60_000;
      await first.validate({ secret, repository: "", action: "" });
      // Another replica recorded a later use.
      await db.ds.query(`UPDATE tokens SET last_used = ? WHERE id = ?`, [
        new Date(later).toISOString().replace("T", " ").replace("Z", ""),
        token.id,
      ]);
      await first.flushLastUsed();
      const row = await db.ds.getRepository<TokenRow>("Token").findOneByOrFail({ id: token.id });
      expect(row.lastUsed?.getTime()).toBe(later);
    });

    it("is flushed at stop (shutdown) and listed before the flush", async () => {
      const svc = serviceOn(db);
      const { token, secret } = await svc.create({ name: "a" });
      await svc.validate({ secret, repository: "", action: "" });
      const listed = await svc.list({ pageSize: 0, pageToken: "" });
      expect(listed.tokens[0]!.lastUsedTime?.getTime()).toBe(clock.t);
      await svc.stop();
      const row = await db.ds.getRepository<TokenRow>("Token").findOneByOrFail({ id: token.id });
      expect(row.lastUsed?.getTime()).toBe(clock.t);
    });
  });

  it("100k random secrets leave the valid token cached and every cache within its bound", async () => {
    const svc = serviceOn(db, { cacheSize: 50, negativeCacheSize: 500 });
    const { secret } = await svc.create({ name: "valid" });
    await svc.validate({ secret, repository: "", action: "" });
    const N = 100_000;
    // Junk of every shape, and one in ten well-formed (a valid epm_ checksum or legacy hex), which
    // passes the syntactic check and reaches the database: 10,000 misses, 20 times the negative cache.
    const wrongChecksum = () => `${generateSecret().slice(0, 47)}000000`;
    const flood = (i: number) => {
      switch (i % 10) {
        case 0:
          return i % 20 === 0 ? generateSecret() : randomBytes(32).toString("hex");
        case 1:
          return `epm_${randomBytes(40).toString("base64url").slice(0, 49)}`;
        case 2:
          return wrongChecksum();
        case 3:
          return randomBytes(32).toString("hex").toUpperCase();
        default:
          return randomBytes(1 + (i % 60)).toString("base64url");
      }
    };
    for (let i = 0; i < N; i += 500) {
      const batch = Array.from({ length: 500 }, (_, j) =>
        svc.validate({ secret: flood(i + j), repository: "", action: "pull" }),
      );
      for (const r of await Promise.all(batch)) expect(r.valid).toBe(false);
      const stats = svc.cacheStats();
      expect(stats.positive).toBeLessThanOrEqual(50);
      expect(stats.negative).toBeLessThanOrEqual(500);
    }
    expect(svc.cacheStats()).toMatchObject({ positive: 1, negative: 500, loads: 1 + N / 10 });
    counter.reset();
    expect((await svc.validate({ secret, repository: "", action: "pull" })).valid).toBe(true);
    expect(counter.count).toBe(0); // still cached
  }, 120_000);

  describe("revocation", () => {
    it("a validation paused after its SELECT does not re-cache a token deleted meanwhile", async () => {
      const g = gate("token-cache.after-select");
      const a = serviceOn(db);
      const b = serviceOn(await openReplica(), { pausePoint: g.pausePoint });
      const { token, secret } = await a.create({ name: "racing" });
      await b.refresh();
      const racing = b.validate({ secret, repository: "", action: "" });
      await g.reached; // B read the generation and found the row alive
      await a.delete(token.id);
      await b.refresh(); // B's poller sees the bump
      g.release();
      expect(await racing).toMatchObject({ valid: true }); // began before the delete committed
      expect(b.cacheStats().positive).toBe(0);
      expect(await b.validate({ secret, repository: "", action: "" })).toEqual({
        valid: false,
        reason: "UNKNOWN_TOKEN",
      });
    });

    it("a validation paused between its generation read and its SELECT finds the token gone", async () => {
      const g = gate("token-cache.after-generation-read");
      const a = serviceOn(db);
      const b = serviceOn(await openReplica(), { pausePoint: g.pausePoint });
      const { token, secret } = await a.create({ name: "racing" });
      await b.refresh();
      const racing = b.validate({ secret, repository: "", action: "" });
      await g.reached;
      await a.delete(token.id);
      g.release();
      expect(await racing).toEqual({ valid: false, reason: "UNKNOWN_TOKEN" });
      expect(b.cacheStats().positive).toBe(0);
    });

    it("another replica drops a cached token at its first poll after the delete", async () => {
      const a = serviceOn(db);
      const b = serviceOn(await openReplica());
      const { token, secret } = await a.create({ name: "shared" });
      await b.refresh();
      expect((await b.validate({ secret, repository: "", action: "" })).valid).toBe(true);
      await a.delete(token.id);
      // Still cached on B until its poller runs: exactly one poll is needed.
      expect((await b.validate({ secret, repository: "", action: "" })).valid).toBe(true);
      await b.refresh();
      expect(await b.validate({ secret, repository: "", action: "" })).toEqual({
        valid: false,
        reason: "UNKNOWN_TOKEN",
      });
      expect(b.cacheStats().drops).toBe(1);
    });

    it("the generation counter row is the one in coordination", async () => {
      const svc = serviceOn(db);
      await svc.invalidateCache();
      const rows: Array<{ name: string }> = await db.ds.query("SELECT name FROM coordination WHERE name = ?", [
        TOKEN_GENERATION,
      ]);
      expect(rows).toHaveLength(1);
    });
  });

  describe("with the database cut", () => {
    let proxy: TcpProxy | undefined;
    afterEach(async () => {
      await proxy?.close();
      proxy = undefined;
    });

    /** A replica whose connection we can cut: a proxy on MariaDB, a failing connection on SQLite. */
    async function cuttableReplica(): Promise<{ replica: Database; cut(): void; restore(): void }> {
      if (dialect === "mariadb") {
        const u = new URL(test.url);
        proxy = await startTcpProxy(u.hostname, Number(u.port || 3306));
        const replica = await openReplica(proxy.rewrite(test.url));
        const p = proxy;
        return { replica, cut: () => p.cut(), restore: () => p.restore() };
      }
      const replica = await openReplica();
      const { ds } = replica;
      const query = ds.query.bind(ds);
      const createQueryRunner = ds.createQueryRunner.bind(ds);
      const cantOpen = () =>
        Object.assign(new Error("SQLITE_CANTOPEN: unable to open database file"), { code: "SQLITE_CANTOPEN" });
      return {
        replica,
        cut: () => {
          ds.query = (() => Promise.reject(cantOpen())) as typeof ds.query;
          ds.createQueryRunner = (() => {
            throw cantOpen();
          }) as typeof ds.createQueryRunner;
        },
        restore: () => {
          ds.query = query;
          ds.createQueryRunner = createQueryRunner;
        },
      };
    }

    it("serves cached tokens for EPOCH_TOKEN_STALE_MAX after the last good poll, then fails closed", async () => {
      const STALE = 10_000;
      const a = serviceOn(db);
      const { replica, cut, restore } = await cuttableReplica();
      const b = serviceOn(replica, { staleMaxMs: STALE });
      const { secret } = await a.create({ name: "cached" });
      const other = await a.create({ name: "not-cached" });
      expect((await b.validate({ secret, repository: "", action: "" })).valid).toBe(true);
      await b.refresh();
      const polls = b.cacheStats().polls;

      cut();
      await b.refresh();
      expect(b.cacheStats()).toMatchObject({ polls, pollFailures: 1 });
      clock.t += STALE;
      expect((await b.validate({ secret, repository: "", action: "" })).valid).toBe(true);
      // A miss cannot be answered while the database is away: retryable, not "invalid".
      expect(await failure(b.validate({ secret: other.secret, repository: "", action: "" }))).toBe(
        "unavailable/DATABASE_UNAVAILABLE",
      );
      expect(await failure(b.lookup(other.secret))).toBe("unavailable/DATABASE_UNAVAILABLE");
      clock.t += 1;
      expect(await failure(b.validate({ secret, repository: "", action: "" }))).toBe(
        "unavailable/DATABASE_UNAVAILABLE",
      );
      expect(await failure(b.lookup(secret))).toBe("unavailable/DATABASE_UNAVAILABLE");
      // Malformed input is still answered: it never needed the database.
      expect(await b.validate({ secret: "junk", repository: "", action: "" })).toMatchObject({ reason: "MALFORMED" });

      restore();
      await b.refresh();
      expect(b.cacheStats().polls).toBe(polls + 1);
      expect((await b.validate({ secret, repository: "", action: "" })).valid).toBe(true);
      expect((await b.validate({ secret: other.secret, repository: "", action: "" })).valid).toBe(true);
    });

    it("keeps last_used times across a failed flush and writes them once the database is back", async () => {
      const a = serviceOn(db);
      const { replica, cut, restore } = await cuttableReplica();
      const b = serviceOn(replica);
      const { token, secret } = await a.create({ name: "x" });
      await b.validate({ secret, repository: "", action: "" });
      cut();
      await expect(b.flushLastUsed()).rejects.toBeTruthy();
      restore();
      await b.flushLastUsed();
      const row = await db.ds.getRepository<TokenRow>("Token").findOneByOrFail({ id: token.id });
      expect(row.lastUsed?.getTime()).toBe(clock.t);
    });
  });
});
