/**
 * The behaviour every ObjectStore must have (distribution's storage driver testsuites, in
 * small). Each backend's test file calls `objectStoreContract` with a factory for a fresh,
 * empty store; adding a backend means passing this suite.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  isInvalidKey,
  MAX_DELETE_BATCH,
  isNotFound,
  isPreconditionFailed,
  StorageError,
  type ObjectInfo,
  type ObjectStore,
} from "../../../src/storage/object-store.js";

export interface ContractStore {
  store: ObjectStore;
  /**
   * s3rver lists in its directory-walk order ("a/z" before "a.json"), not S3's byte order; on
   * such a backend the suite checks that every key comes exactly once instead of the order.
   */
  listOrderIsDirectoryWalk?: boolean;
  /** The same backend with a tiny list page size, to exercise paging. */
  smallPages: ObjectStore;
  cleanup(): Promise<void>;
}

const text = (s: string) => Buffer.from(s);
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

async function rejectsWith(p: Promise<unknown>, pred: (e: unknown) => boolean): Promise<StorageError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "expected a rejection").toBeInstanceOf(StorageError);
  expect(pred(e), `unexpected error ${String(e)}`).toBe(true);
  return e as StorageError;
}

export function objectStoreContract(name: string, make: () => Promise<ContractStore>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let ctx: ContractStore;
    let store: ObjectStore;
    /** Byte order is checked where the backend keeps it; otherwise only "each key exactly once". */
    const ordered = (keys: string[]): string[] => (ctx.listOrderIsDirectoryWalk ? [...keys].sort(byteOrder) : keys);
    beforeEach(async () => {
      ctx = await make();
      store = ctx.store;
    });
    afterEach(async () => {
      await ctx.cleanup();
    });

    it("round-trips bytes, size, etag and last-modified", async () => {
      const before = Date.now();
      const body = Buffer.from([0, 1, 2, 255, 10, 13, 0x7b]);
      const { etag } = await store.put("a/b/c.bin", body);
      const got = await store.get("a/b/c.bin");
      if (got.status !== "ok") throw new Error("expected ok");
      expect(Buffer.compare(got.body, body)).toBe(0);
      expect(got.size).toBe(body.length);
      expect(got.etag).toBe(etag);
      expect(etag).toMatch(/^".+"$/);
      expect(got.lastModified.getTime()).toBeGreaterThan(before - 5_000);
      expect(got.lastModified.getTime()).toBeLessThan(Date.now() + 5_000);
    });

    it("stores empty and 1 MiB bodies", async () => {
      await store.put("empty", Buffer.alloc(0));
      const big = Buffer.alloc(1 << 20, 7);
      big[12345] = 1;
      await store.put("big", big);
      const e = await store.get("empty");
      const b = await store.get("big");
      expect(e.status === "ok" && e.body.length).toBe(0);
      expect(b.status === "ok" && Buffer.compare(b.body, big)).toBe(0);
      expect((await store.head("big"))?.size).toBe(1 << 20);
    });

    it("changes the etag whenever the content changes", async () => {
      const e1 = (await store.put("k.json", text("one"))).etag;
      const e2 = (await store.put("k.json", text("two"))).etag;
      const e3 = (await store.put("k.json", text("one!"))).etag;
      expect(new Set([e1, e2, e3]).size).toBe(3);
      expect((await store.head("k.json"))?.etag).toBe(e3);
    });

    it("answers not_modified for a matching If-None-Match and the body otherwise", async () => {
      const { etag } = await store.put("cond.json", text("{}"));
      expect(await store.get("cond.json", { ifNoneMatch: etag })).toEqual({ status: "not_modified", etag });
      const stale = await store.get("cond.json", { ifNoneMatch: '"0123456789abcdef0123456789abcdef"' });
      expect(stale.status).toBe("ok");
      await store.put("cond.json", text("{ }"));
      const changed = await store.get("cond.json", { ifNoneMatch: etag });
      expect(changed.status === "ok" && changed.body.toString()).toBe("{ }");
    });

    it("throws a typed not-found on get; head answers null", async () => {
      const e = await rejectsWith(store.get("nope/missing.json"), isNotFound);
      expect(e.kind).toBe("not_found");
      expect(e.key).toBe("nope/missing.json");
      await rejectsWith(store.get("nope/missing.json", { ifNoneMatch: '"x"' }), isNotFound);
      expect(await store.head("nope/missing.json")).toBeNull();
    });

    it("heads size, etag and last-modified", async () => {
      const { etag } = await store.put("h/x", text("12345"));
      const head = await store.head("h/x");
      expect(head).toMatchObject({ size: 5, etag });
      expect(head?.lastModified).toBeInstanceOf(Date);
    });

    it("deletes idempotently", async () => {
      await store.put("d/x", text("x"));
      await store.delete("d/x");
      await store.delete("d/x");
      await store.delete("never/existed");
      expect(await store.head("d/x")).toBeNull();
      await rejectsWith(store.get("d/x"), isNotFound);
    });

    it("heads and lists without ETags when asked: keys, sizes and Last-Modified all the same", async () => {
      const before = Date.now();
      await store.put("s/a", text("12345"));
      await store.put("s/b", text("1234567"));
      const head = await store.head("s/a", { etag: false });
      expect(head).toMatchObject({ size: 5 });
      expect(head?.lastModified.getTime()).toBeGreaterThan(before - 5_000);
      expect(typeof head?.etag).toBe("string");
      expect(await store.head("s/none", { etag: false })).toBeNull();
      const listed = await collect(store.list("s/", { etag: false }));
      expect(ordered(listed.map((o) => o.key))).toEqual(["s/a", "s/b"]);
      expect(listed.map((o) => o.size).sort()).toEqual([5, 7]);
      for (const o of listed) expect(o.lastModified.getTime()).toBeGreaterThan(before - 5_000);
      // An ETag a store does report is the real one.
      for (const o of listed) if (o.etag !== "") expect(o.etag).toBe((await store.head(o.key))?.etag);
    });

    it("deletes a batch of keys in one call, absent ones included, and nothing else", async () => {
      const keys = ["blobs/sha256/aa", "blobs/sha256/bb", "manifests/r/_digests/sha256-cc.json", "_uploads/u1/part"];
      for (const k of [...keys, "blobs/sha256/keep", "catalog.json"]) await store.put(k, text(k));
      expect(await store.deleteObjects([...keys, "blobs/sha256/never-written"])).toEqual([]);
      for (const k of keys) expect(await store.head(k)).toBeNull();
      expect((await collect(store.list(""))).map((o) => o.key).sort(byteOrder)).toEqual([
        "blobs/sha256/keep",
        "catalog.json",
      ]);
      expect(await store.deleteObjects(keys)).toEqual([]);
      expect(await store.deleteObjects([])).toEqual([]);
    });

    it("deletes a full batch of MAX_DELETE_BATCH keys and refuses more, or an invalid key, before any request", async () => {
      const keys = Array.from({ length: MAX_DELETE_BATCH }, (_, i) => `many/k${String(i).padStart(4, "0")}`);
      for (let i = 0; i < keys.length; i += 50)
        await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, text(k))));
      await store.put("many/zz-last", text("stays"));
      await rejectsWith(store.deleteObjects([...keys, "many/one-more"]), (e) => e instanceof StorageError);
      await rejectsWith(store.deleteObjects(["many/k0000", "a/../b"]), isInvalidKey);
      expect((await collect(store.list("many/"))).length).toBe(MAX_DELETE_BATCH + 1);
      expect(await store.deleteObjects(keys)).toEqual([]);
      expect((await collect(store.list("many/"))).map((o) => o.key)).toEqual(["many/zz-last"]);
    });

    it("lists keys under a prefix in byte order with size and etag", async () => {
      const keys = ["m/b.json", "m/a/z.json", "m/a-b.json", "m/a.json", "m/a0", "m/B", "m/é", "m/~", "n/x", "ma"];
      for (const k of keys) await store.put(k, text(k));
      const listed = await collect(store.list("m/"));
      const expected = keys.filter((k) => k.startsWith("m/")).sort(byteOrder);
      expect(ordered(listed.map((o) => o.key))).toEqual(expected);
      const a = listed.find((o) => o.key === "m/a.json");
      expect(a).toMatchObject({ size: Buffer.byteLength("m/a.json"), etag: (await store.head("m/a.json"))?.etag });
      expect(a?.lastModified).toBeInstanceOf(Date);
      // A prefix that is not a directory boundary.
      expect(ordered((await collect(store.list("m/a"))).map((o) => o.key))).toEqual(
        expected.filter((k) => k.startsWith("m/a")),
      );
      expect((await collect(store.list(""))).length).toBe(keys.length);
      expect(await collect(store.list("zzz/"))).toEqual([]);
    });

    it("lists after startAfter and up to a limit, across pages", async () => {
      const keys = Array.from({ length: 7 }, (_, i) => `p/k${i}`);
      for (const k of keys) await store.put(k, text(k));
      const small = ctx.smallPages;
      expect((await collect(small.list("p/"))).map((o) => o.key)).toEqual(keys);
      expect((await collect(small.list("p/", { startAfter: "p/k2" }))).map((o) => o.key)).toEqual(keys.slice(3));
      expect((await collect(small.list("p/", { startAfter: "p/k2", limit: 3 }))).map((o) => o.key)).toEqual(
        keys.slice(3, 6),
      );
      expect((await collect(small.list("p/", { startAfter: "a" }))).map((o) => o.key)).toEqual(keys);
      expect(await collect(small.list("p/", { startAfter: "q" }))).toEqual([]);
      const page = await small.listPage("p/", { limit: 100 });
      expect(page.items.length).toBeLessThan(keys.length);
      expect(page.truncated).toBe(true);
      const last = await small.listPage("p/", { startAfter: "p/k5" });
      expect(last.items.map((o) => o.key)).toEqual(["p/k6"]);
    });

    it("lists keys only (listKeys) in the same pages and order as listPage, with heads where the listing has them", async () => {
      // Flat names: s3rver pages nested keys in its directory-walk order (see `ordered`).
      const keys = ["q/a", "q/b", "q/c", "q/d", "q/e", "r/out"];
      for (const k of keys) await store.put(k, text(k));
      const small = ctx.smallPages;
      const byKeys: string[] = [];
      const byPages: string[] = [];
      let startAfter: string | undefined;
      for (;;) {
        const opts = startAfter === undefined ? {} : { startAfter };
        const [k, p] = [await small.listKeys("q/", opts), await small.listPage("q/", opts)];
        expect(k.items.map((i) => i.key)).toEqual(p.items.map((i) => i.key));
        expect(k.truncated).toBe(p.truncated);
        for (const [i, item] of k.items.entries()) {
          // A head, when present, is what the full listing says of that key.
          if (item.head) expect({ key: item.key, ...item.head }).toEqual(p.items[i]);
        }
        byKeys.push(...k.items.map((i) => i.key));
        byPages.push(...p.items.map((i) => i.key));
        if (!k.truncated || k.items.length === 0) break;
        startAfter = k.items.at(-1)!.key;
      }
      expect(byKeys).toEqual(keys.filter((k) => k.startsWith("q/")));
      expect(byKeys).toEqual(byPages);
      expect((await store.listKeys("q/", { limit: 2 })).items).toHaveLength(2);
      expect((await store.listKeys("zzz/")).items).toEqual([]);
      await rejectsWith(store.listKeys("../"), isInvalidKey);
    });

    it("lists keys with slashes in names in the right order (repository names)", async () => {
      const keys = [
        "manifests/a/b/c.json",
        "manifests/a/b.json",
        "manifests/a/_digests/sha256-00.json",
        "manifests/a-b/x.json",
      ];
      for (const k of keys) await store.put(k, text(k));
      const all = (await collect(store.list("manifests/"))).map((o) => o.key);
      expect(ordered(all)).toEqual([
        "manifests/a-b/x.json",
        "manifests/a/_digests/sha256-00.json",
        "manifests/a/b.json",
        "manifests/a/b/c.json",
      ]);
      // Resuming after any key yields exactly the keys after it in byte order.
      for (const after of all) {
        const rest = (await collect(store.list("manifests/", { startAfter: after }))).map((o) => o.key);
        expect(ordered(rest)).toEqual([...all].sort(byteOrder).filter((k) => byteOrder(k, after) > 0));
      }
    });

    it("rejects invalid keys with a typed error before touching the backend", async () => {
      for (const key of ["", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", "a\\b", "nul\0", "x/.epoch-tmp-1"]) {
        await rejectsWith(store.get(key), isInvalidKey);
        await rejectsWith(store.put(key, text("x")), isInvalidKey);
        await rejectsWith(store.head(key), isInvalidKey);
        await rejectsWith(store.delete(key), isInvalidKey);
      }
      await rejectsWith(store.listPage("../"), isInvalidKey);
    });

    it("enforces put preconditions against a sequential writer", async () => {
      const { etag } = await store.put("cat.json", text("v1"), { ifNoneMatch: "*" });
      await rejectsWith(store.put("cat.json", text("v2"), { ifNoneMatch: "*" }), isPreconditionFailed);
      await rejectsWith(
        store.put("cat.json", text("v2"), { ifMatch: '"0123456789abcdef0123456789abcdef"' }),
        isPreconditionFailed,
      );
      const { etag: e2 } = await store.put("cat.json", text("v2"), { ifMatch: etag });
      await rejectsWith(store.put("cat.json", text("v3"), { ifMatch: etag }), isPreconditionFailed);
      await rejectsWith(store.put("absent.json", text("x"), { ifMatch: e2 }), isPreconditionFailed);
      const got = await store.get("cat.json");
      expect(got.status === "ok" && got.body.toString()).toBe("v2");
      expect(typeof store.capabilities.conditionalPut).toBe("boolean");
    });

    it("serves concurrent writers of distinct keys", async () => {
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.put(`c/${i % 4}/k${i}`, text(`v${i}`))));
      const listed = await collect(store.list("c/"));
      expect(listed.length).toBe(40);
      const got = await store.get("c/3/k39");
      expect(got.status === "ok" && got.body.toString()).toBe("v39");
    });
  });
}
