import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryObjectStore } from "../../../src/storage/directory-store.js";
import {
  isNotFound,
  isPreconditionFailed,
  isStorageUnavailable,
  type ObjectInfo,
} from "../../../src/storage/object-store.js";
import { RetryingStore } from "../../../src/storage/retrying-store.js";
import { CountingStore, FaultStore } from "../../helpers/fault-store.js";

let dir: string;
let base: DirectoryObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "epoch-wrappers-"));
  base = new DirectoryObjectStore(dir, { pageSize: 2 });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const noSleep = { sleep: async () => undefined, random: () => 0.5 };
const collect = async (it: AsyncIterable<ObjectInfo>) => {
  const out: string[] = [];
  for await (const o of it) out.push(o.key);
  return out;
};

describe("RetryingStore", () => {
  it("retries unavailable errors and every attempt reaches the counter below", async () => {
    const counting = new CountingStore(base);
    const faults = new FaultStore(counting);
    await base.put("k", Buffer.from("v"));
    faults.failNext({ op: "get", error: "unavailable", times: 2 });
    const delays: number[] = [];
    const store = new RetryingStore(faults, { ...noSleep, baseDelayMs: 100, onRetry: (i) => delays.push(i.delayMs) });
    const got = await store.get("k");
    expect(got.status).toBe("ok");
    expect(delays).toEqual([50, 100]); // full jitter at random()=0.5 of 100, 200
    expect(faults.injected).toBe(2);
    expect(counting.byOp.get).toBe(1); // faults before the counter: injected failures never reached it
  });

  it("counts injected failures when the counter sits above the faults", async () => {
    const faults = new FaultStore(base);
    const counting = new CountingStore(faults);
    await base.put("k", Buffer.from("v"));
    faults.failNext({ op: "head", error: "unavailable", times: 2 });
    await new RetryingStore(counting, noSleep).head("k");
    expect(counting.total).toBe(3);
  });

  it("gives up after maxAttempts with the typed error", async () => {
    const faults = new FaultStore(base).failNext({ op: "put", error: "unavailable", times: Infinity });
    const store = new RetryingStore(faults, { ...noSleep, maxAttempts: 3 });
    const e = await store.put("k", Buffer.from("v")).catch((err: unknown) => err);
    expect(isStorageUnavailable(e)).toBe(true);
    expect(faults.injected).toBe(3);
  });

  it("does not retry not-found or precondition failures", async () => {
    const faults = new FaultStore(base).failNext({ op: "put", error: "precondition_failed", times: Infinity });
    const store = new RetryingStore(faults, noSleep);
    expect(isPreconditionFailed(await store.put("k", Buffer.from("v")).catch((e: unknown) => e))).toBe(true);
    expect(faults.injected).toBe(1);
    expect(isNotFound(await store.get("absent").catch((e: unknown) => e))).toBe(true);
  });

  it("retries a failed list page without repeating or skipping keys", async () => {
    for (const k of ["a", "b", "c", "d", "e"]) await base.put(`p/${k}`, Buffer.from(k));
    const faults = new FaultStore(base).failNth(2, { op: "list", error: "unavailable" });
    const counting = new CountingStore(faults);
    expect(await collect(new RetryingStore(counting, noSleep).list("p/"))).toEqual(["p/a", "p/b", "p/c", "p/d", "p/e"]);
    expect(counting.byOp.list).toBe(4); // 3 pages + 1 retry
  });
});

describe("batch deletes through the wrappers", () => {
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `b/k${i}`);

  it("count one request per batch, and retry only the keys that failed retryably", async () => {
    for (const k of keys(5)) await base.put(k, Buffer.from(k));
    const faults = new FaultStore(base)
      .failKeys({ keyMatch: "b/k1", error: "unavailable", times: 2 })
      .failKeys({ keyMatch: "b/k3", error: "failed" });
    const counting = new CountingStore(faults);
    const failures = await new RetryingStore(counting, noSleep).deleteObjects(keys(5));
    expect(failures.map((f) => f.key)).toEqual(["b/k3"]);
    expect(counting.byOp.deleteBatch).toBe(3); // the batch, then k1 alone twice
    expect(counting.batchDeletedKeys).toBe(7);
    expect(await collect(base.list("b/"))).toEqual(["b/k3"]);
  });

  it("retry a batch whose request failed as a whole, then give up with the typed error", async () => {
    for (const k of keys(3)) await base.put(k, Buffer.from(k));
    const once = new FaultStore(base).failNext({ op: "deleteBatch", error: "unavailable" });
    const counting = new CountingStore(once);
    expect(await new RetryingStore(counting, noSleep).deleteObjects(keys(3))).toEqual([]);
    expect(counting.byOp.deleteBatch).toBe(2);
    expect(await collect(base.list("b/"))).toEqual([]);
    const always = new FaultStore(base).failNext({ op: "deleteBatch", error: "unavailable", times: Infinity });
    const e = await new RetryingStore(always, { ...noSleep, maxAttempts: 2 })
      .deleteObjects(keys(1))
      .catch((err: unknown) => err);
    expect(isStorageUnavailable(e)).toBe(true);
    expect(always.injected).toBe(2);
  });

  it("leave keys that fail for good in the answer after the last attempt", async () => {
    await base.put("b/k0", Buffer.from("x"));
    const faults = new FaultStore(base).failKeys({ keyMatch: "b/k0", error: "unavailable", times: Infinity });
    const failures = await new RetryingStore(faults, { ...noSleep, maxAttempts: 3 }).deleteObjects(["b/k0"]);
    expect(failures.map((f) => [f.key, isStorageUnavailable(f.error)])).toEqual([["b/k0", true]]);
    expect(faults.injected).toBe(3);
  });
});

describe("FaultStore", () => {
  it("fails only matching requests, the given number of times", async () => {
    await base.put("manifests/x.json", Buffer.from("{}"));
    await base.put("catalog.json", Buffer.from("{}"));
    const faults = new FaultStore(base).failNext({ op: "get", keyMatch: /^manifests\//, error: "not_found", times: 2 });
    expect((await faults.get("catalog.json")).status).toBe("ok");
    await expect(faults.get("manifests/x.json")).rejects.toSatisfy(isNotFound);
    await expect(faults.get("manifests/x.json")).rejects.toSatisfy(isNotFound);
    expect((await faults.get("manifests/x.json")).status).toBe("ok");
  });

  it("loses the answer after the write landed (phase after)", async () => {
    const faults = new FaultStore(base).failNext({ op: "put", error: "unavailable", phase: "after" });
    await expect(faults.put("k", Buffer.from("landed"))).rejects.toSatisfy(isStorageUnavailable);
    const got = await base.get("k");
    expect(got.status === "ok" && got.body.toString()).toBe("landed");
  });

  it("truncates bodies silently and changes ETags so If-None-Match misses", async () => {
    const { etag } = await base.put("m.json", Buffer.from('{"schemaVersion":2}'));
    const faults = new FaultStore(base).truncateBodies({ keyMatch: "m.json", bytes: 5, times: 1 });
    const got = await faults.get("m.json");
    expect(got.status === "ok" && got.body.toString()).toBe('{"sch');
    faults.changeEtags({ keyMatch: "m.json" });
    const again = await faults.get("m.json", { ifNoneMatch: etag });
    expect(again.status === "ok" && again.etag).not.toBe(etag);
    expect((await faults.head("m.json"))?.etag).not.toBe(etag);
  });

  it("adds latency", async () => {
    await base.put("k", Buffer.from("v"));
    const faults = new FaultStore(base).addLatency({ op: "get", ms: 50 });
    const start = performance.now();
    await faults.get("k");
    expect(performance.now() - start).toBeGreaterThanOrEqual(45);
  });

  it("counts per op, per key and in order", async () => {
    const counting = new CountingStore(base);
    await counting.put("a", Buffer.from("1"));
    await counting.get("a");
    await counting.head("b");
    await counting.delete("a");
    expect(counting.total).toBe(4);
    expect(counting.byOp).toEqual({ get: 1, head: 1, put: 1, delete: 1, deleteBatch: 0, list: 0 });
    expect(counting.forKey("a")).toBe(3);
    expect(counting.log.map((r) => r.op)).toEqual(["put", "get", "head", "delete"]);
    counting.reset();
    expect(counting.total).toBe(0);
    expect(counting.forKey("a")).toBe(0);
  });
});
