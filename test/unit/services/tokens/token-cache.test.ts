/**
 * The cache's rules against an in-memory token source that counts its calls: bounded
 * positive/negative caches, drop on a generation move, no stale re-cache when a lookup races
 * a delete (driven through the named pause points, never timing), and the stale bound.
 */
import { describe, expect, it } from "vitest";
import { isEpochError } from "../../../../src/errors.js";
import { TokenCache, type TokenCacheOptions, type TokenSource } from "../../../../src/services/tokens/token-cache.js";
import { gate } from "../../../helpers/pause-gate.js";

interface Rec {
  id: number;
}

class FakeSource implements TokenSource<Rec> {
  rows = new Map<string, Rec>();
  generation = 0;
  down = false;
  reads = { generation: 0, find: 0 };
  async readGeneration() {
    if (this.down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    this.reads.generation++;
    return this.generation;
  }
  async find(hash: string) {
    if (this.down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    this.reads.find++;
    return this.rows.get(hash) ?? null;
  }
  /** DeleteToken: the row goes, then the generation moves. */
  delete(hash: string) {
    this.rows.delete(hash);
    this.generation++;
  }
}

function setup(options: Partial<TokenCacheOptions> = {}) {
  const source = new FakeSource();
  const clock = { t: 1_000_000 };
  const cache = new TokenCache<Rec>(source, {
    size: 10,
    ttlMs: 60_000,
    negativeSize: 5,
    staleMaxMs: 60_000,
    pollIntervalMs: 500,
    now: () => clock.t,
    ...options,
  });
  return { source, cache, clock };
}

describe("TokenCache", () => {
  it("loads a token once, then serves it from memory", async () => {
    const { source, cache } = setup();
    source.rows.set("h1", { id: 1 });
    for (let i = 0; i < 100; i++) expect(await cache.get("h1")).toEqual({ id: 1 });
    expect(source.reads.find).toBe(1);
    expect(cache.stats()).toMatchObject({ positive: 1, negative: 0, loads: 1 });
  });

  it("shares one load between concurrent misses of one secret", async () => {
    const { source, cache } = setup();
    source.rows.set("h1", { id: 1 });
    const all = await Promise.all(Array.from({ length: 50 }, () => cache.get("h1")));
    expect(all.every((r) => r?.id === 1)).toBe(true);
    expect(source.reads.find).toBe(1);
  });

  it("keeps unknown secrets in a separate bounded cache that never evicts valid tokens", async () => {
    const { source, cache } = setup({ size: 2, negativeSize: 5 });
    source.rows.set("valid", { id: 1 });
    await cache.get("valid");
    for (let i = 0; i < 1000; i++) expect(await cache.get(`junk${i}`)).toBeNull();
    expect(cache.stats()).toMatchObject({ positive: 1, negative: 5 });
    const finds = source.reads.find;
    expect(await cache.get("valid")).toEqual({ id: 1 });
    expect(source.reads.find).toBe(finds);
    // The most recent unknown secret is answered from the negative cache.
    expect(await cache.get("junk999")).toBeNull();
    expect(source.reads.find).toBe(finds);
  });

  it("drops both caches when a poll sees the generation move", async () => {
    const { source, cache } = setup();
    source.rows.set("h1", { id: 1 });
    await cache.get("h1");
    await cache.get("unknown");
    await cache.poll();
    expect(cache.stats()).toMatchObject({ positive: 1, negative: 1, drops: 0 });
    source.delete("h1");
    await cache.poll();
    expect(cache.stats()).toMatchObject({ positive: 0, negative: 0, drops: 1 });
    expect(await cache.get("h1")).toBeNull();
  });

  it("does not re-cache a token deleted between its SELECT and the cache write (pause after the SELECT)", async () => {
    const g = gate("token-cache.after-select");
    const { source, cache } = setup({ pausePoint: g.pausePoint });
    source.rows.set("h1", { id: 1 });
    await cache.poll();
    const racing = cache.get("h1");
    await g.reached; // generation read, SELECT found the row alive
    source.delete("h1"); // DeleteToken commits: row gone, generation bumped
    await cache.poll(); // this replica's poller sees the bump
    g.release();
    // The racing call began before the delete committed: answering it is fine ...
    expect(await racing).toEqual({ id: 1 });
    // ... but it must not have been cached.
    expect(cache.stats().positive).toBe(0);
    expect(await cache.get("h1")).toBeNull();
  });

  it("does not cache a lookup whose generation moved between the generation read and the SELECT", async () => {
    const g = gate("token-cache.after-generation-read");
    const { source, cache } = setup({ pausePoint: g.pausePoint });
    source.rows.set("h1", { id: 1 });
    await cache.poll();
    const racing = cache.get("h1");
    await g.reached;
    // InvalidateTokenCache (or a scope change) moves the generation without removing the row.
    source.generation++;
    await cache.poll();
    g.release();
    expect(await racing).toEqual({ id: 1 });
    expect(cache.stats().positive).toBe(0);
    // And once a delete happened inside that window, the SELECT itself finds nothing.
    const g2 = gate("token-cache.after-generation-read");
    const second = setup({ pausePoint: g2.pausePoint });
    second.source.rows.set("h1", { id: 1 });
    const racing2 = second.cache.get("h1");
    await g2.reached;
    second.source.delete("h1");
    g2.release();
    expect(await racing2).toBeNull();
    expect(second.cache.stats().positive).toBe(0);
  });

  it("caches a lookup that raced the poller when the generation did not move", async () => {
    const g = gate("token-cache.after-select");
    const { source, cache } = setup({ pausePoint: g.pausePoint });
    source.rows.set("h1", { id: 1 });
    const racing = cache.get("h1");
    await g.reached;
    await cache.poll();
    g.release();
    await racing;
    expect(cache.stats().positive).toBe(1);
  });

  it("ignores a generation read older than one already seen", async () => {
    const g = gate("token-cache.after-generation-read");
    const { source, cache } = setup({ pausePoint: g.pausePoint });
    source.rows.set("h1", { id: 1 });
    const racing = cache.get("h1"); // reads generation 0
    await g.reached;
    source.generation = 3;
    await cache.poll();
    g.release();
    await racing;
    expect(cache.stats().positive).toBe(0);
    expect(cache.stats().drops).toBe(1);
  });

  it("re-reads an entry after its TTL", async () => {
    const { source, cache, clock } = setup({ ttlMs: 1000 });
    source.rows.set("h1", { id: 1 });
    await cache.get("h1");
    clock.t += 999;
    await cache.get("h1");
    expect(source.reads.find).toBe(1);
    clock.t += 2;
    await cache.get("h1");
    expect(source.reads.find).toBe(2);
  });

  it("serves cached tokens at most staleMax after the last successful poll, then fails closed", async () => {
    const { source, cache, clock } = setup({ staleMaxMs: 10_000 });
    source.rows.set("h1", { id: 1 });
    await cache.get("h1");
    await cache.poll();
    source.down = true;
    clock.t += 5_000;
    await cache.poll();
    expect(cache.stats().pollFailures).toBe(1);
    expect(await cache.get("h1")).toEqual({ id: 1 });
    clock.t += 5_000;
    expect(await cache.get("h1")).toEqual({ id: 1 });
    clock.t += 1;
    const err = await cache.get("h1").catch((e: unknown) => e);
    expect(isEpochError(err) && `${err.kind}/${err.reason}`).toBe("unavailable/DATABASE_UNAVAILABLE");
    // A miss while the database is down fails too (the source's error).
    source.down = false;
    await cache.poll();
    expect(await cache.get("h1")).toEqual({ id: 1 });
  });

  it("peek answers cached records and known-unknown secrets synchronously, never a stale or unloaded one", async () => {
    const { source, cache, clock } = setup({ staleMaxMs: 10_000 });
    source.rows.set("h1", { id: 1 });
    expect(cache.peek("h1")).toBeUndefined(); // not loaded yet: peek never loads
    expect(source.reads.find).toBe(0);
    await cache.get("h1");
    await cache.get("unknown");
    await cache.poll();
    expect(cache.peek("h1")).toEqual({ id: 1 });
    expect(cache.peek("unknown")).toBeNull();
    expect(cache.peek("other")).toBeUndefined();
    expect(source.reads.find).toBe(2);
    // Past the stale bound peek gives nothing, so the caller goes through get and fails closed.
    source.down = true;
    clock.t += 10_001;
    expect(cache.peek("h1")).toBeUndefined();
    expect(cache.peek("unknown")).toBeUndefined();
    const err = await cache.get("h1").catch((e: unknown) => e);
    expect(isEpochError(err) && err.reason).toBe("DATABASE_UNAVAILABLE");
    // A dropped cache (generation moved) leaves nothing to peek at.
    source.down = false;
    source.delete("h1");
    await cache.poll();
    expect(cache.peek("h1")).toBeUndefined();
    expect(cache.peek("unknown")).toBeUndefined();
  });

  it("never lets the stale bound fall below two poll intervals", async () => {
    const { source, cache, clock } = setup({ staleMaxMs: 0, pollIntervalMs: 500 });
    source.rows.set("h1", { id: 1 });
    await cache.get("h1");
    clock.t += 1000;
    expect(await cache.get("h1")).toEqual({ id: 1 });
    clock.t += 1;
    await expect(cache.get("h1")).rejects.toMatchObject({ kind: "unavailable" });
  });
});
