import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DirectoryObjectStore } from "../../../src/storage/directory-store.js";
import { isInvalidKey, isStorageUnavailable } from "../../../src/storage/object-store.js";
import { openObjectStore } from "../../../src/storage/open-store.js";
import { objectStoreContract } from "./object-store-contract.js";

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "epoch-dir-store-"));
}

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

objectStoreContract("directory", async () => {
  const dir = await tempDir();
  return {
    store: new DirectoryObjectStore(dir),
    smallPages: new DirectoryObjectStore(dir, { pageSize: 2 }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

objectStoreContract("directory (durable: false)", async () => {
  const dir = await tempDir();
  return {
    store: new DirectoryObjectStore(dir, { durable: false }),
    smallPages: new DirectoryObjectStore(dir, { pageSize: 3, durable: false }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe("DirectoryObjectStore specifics", () => {
  it("never leaves the root, whatever the key", async () => {
    const parent = await tempDir();
    const root = join(parent, "root");
    const store = new DirectoryObjectStore(root);
    await writeFile(join(parent, "secret"), "s");
    for (const key of [
      "../secret",
      "a/../../secret",
      "/etc/passwd",
      "..\\secret",
      "a/..",
      "./secret",
      `${parent}/secret`,
    ]) {
      await expect(store.get(key)).rejects.toSatisfy(isInvalidKey);
      await expect(store.put(key, Buffer.from("x"))).rejects.toSatisfy(isInvalidKey);
    }
    expect(await allFiles(parent)).toEqual(["secret"]);
    await rm(parent, { recursive: true, force: true });
  });

  it("leaves no partial or temp file when a write fails midway", async () => {
    const dir = await tempDir();
    for (const stage of ["write", "rename"] as const) {
      const store = new DirectoryObjectStore(dir, {
        faultHook: (s, key) => {
          if (s === stage && key === "catalog.json") throw Object.assign(new Error("injected EIO"), { code: "EIO" });
        },
      });
      await store.put("other.json", Buffer.from("ok"));
      await store.put("catalog.json", Buffer.from("old")).catch(() => undefined);
      const err = await store.put("catalog.json", Buffer.from("new content")).catch((e: unknown) => e);
      expect(isStorageUnavailable(err)).toBe(true);
      expect(await allFiles(dir)).toEqual(["other.json"]);
    }
    // The old version survives a failed overwrite.
    const ok = new DirectoryObjectStore(dir);
    await ok.put("catalog.json", Buffer.from("old"));
    const failing = new DirectoryObjectStore(dir, {
      faultHook: (s) => {
        if (s === "rename") throw new Error("crash before rename");
      },
    });
    await expect(failing.put("catalog.json", Buffer.from("new"))).rejects.toThrow();
    const got = await ok.get("catalog.json");
    expect(got.status === "ok" && got.body.toString()).toBe("old");
    expect(await allFiles(dir)).toEqual(["catalog.json", "other.json"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("hides temp files and ignores symlinks when listing", async () => {
    const dir = await tempDir();
    const store = new DirectoryObjectStore(dir);
    await store.put("a/x", Buffer.from("x"));
    await writeFile(join(dir, "a", ".epoch-tmp-deadbeef"), "partial");
    await symlink("/etc/hostname", join(dir, "a", "link"));
    const keys: string[] = [];
    for await (const o of store.list("")) keys.push(o.key);
    expect(keys).toEqual(["a/x"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("detects a content change made behind its back (same size, new inode)", async () => {
    const dir = await tempDir();
    const store = new DirectoryObjectStore(dir);
    const { etag } = await store.put("m.json", Buffer.from("aaaa"));
    await store.get("m.json"); // warm the ETag cache
    await writeFile(join(dir, "m.json.new"), "bbbb");
    const { rename } = await import("node:fs/promises");
    await rename(join(dir, "m.json.new"), join(dir, "m.json"));
    const got = await store.get("m.json", { ifNoneMatch: etag });
    expect(got.status).toBe("ok");
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a flat directory once per listing, not once per page, and a new listing afresh", async () => {
    const dir = await tempDir();
    try {
      await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
      const names = Array.from({ length: 2500 }, (_, i) => i.toString(16).padStart(64, "0"));
      await Promise.all(names.map((n) => writeFile(join(dir, "blobs", "sha256", n), "x")));
      await mkdir(join(dir, "manifests", "team", "app"), { recursive: true });
      await writeFile(join(dir, "manifests", "team", "app", "m"), "x");
      const store = new DirectoryObjectStore(dir, { pageSize: 100 });
      const keys = async (prefix: string) => {
        const got: string[] = [];
        for await (const o of store.list(prefix, { etag: false })) got.push(o.key);
        return got;
      };
      expect(await keys("blobs/sha256/")).toEqual(names.map((n) => `blobs/sha256/${n}`));
      // 25 pages, one read of the directory (each page used to re-read and re-sort all 2500).
      expect(store.directoryReads).toBe(1);
      // A key written during a listing's last page is seen by the next listing.
      await writeFile(join(dir, "blobs", "sha256", "f".repeat(64)), "x");
      expect((await keys("blobs/sha256/")).at(-1)).toBe(`blobs/sha256/${"f".repeat(64)}`);
      expect(store.directoryReads).toBe(2);
      // Nested directories resume inside the one the cursor is in.
      const small = new DirectoryObjectStore(dir, { pageSize: 1 });
      const all: string[] = [];
      for await (const o of small.list("", { etag: false })) all.push(o.key);
      expect(all).toEqual([
        ...names.map((n) => `blobs/sha256/${n}`),
        `blobs/sha256/${"f".repeat(64)}`,
        "manifests/team/app/m",
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("prunes directories emptied by deletes", async () => {
    const dir = await tempDir();
    const store = new DirectoryObjectStore(dir);
    await store.put("manifests/team/app/v1.json", Buffer.from("{}"));
    await store.delete("manifests/team/app/v1.json");
    expect(await readdir(dir)).toEqual([]);
    await store.put("manifests/team/app/v1.json", Buffer.from("{}"));
    expect(await allFiles(dir)).toEqual(["manifests/team/app/v1.json"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("prunes the directories a batch delete emptied, and only those", async () => {
    const dir = await tempDir();
    const store = new DirectoryObjectStore(dir, { durable: false });
    const gone = ["a/x/1", "a/x/2", "a/y/z/1", "b/1"];
    for (const k of [...gone, "a/keep", "c/1"]) await store.put(k, Buffer.from(k));
    expect(await store.deleteObjects([...gone, "never/there"])).toEqual([]);
    expect(await allFiles(dir)).toEqual(["a/keep", "c/1"]);
    expect((await readdir(dir)).sort()).toEqual(["a", "c"]);
    expect(await readdir(join(dir, "a"))).toEqual(["keep"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("reports a key that collides with a directory as a typed error", async () => {
    const dir = await tempDir();
    const store = new DirectoryObjectStore(dir);
    await store.put("a/b", Buffer.from("x"));
    const e = await store.put("a", Buffer.from("y")).catch((err: unknown) => err);
    expect(e).toMatchObject({ code: "failed", reason: "STORAGE_ERROR" });
    const e2 = await store.put("a/b/c", Buffer.from("y")).catch((err: unknown) => err);
    expect(e2).toMatchObject({ code: "failed" });
    expect(await store.head("a")).toBeNull();
    await rm(dir, { recursive: true, force: true });
  });

  it("opens from file: URLs", async () => {
    const dir = await tempDir();
    const store = openObjectStore(`file:${dir}`, { retry: false });
    await store.put("x", Buffer.from("1"));
    expect(await allFiles(dir)).toEqual(["x"]);
    await rm(dir, { recursive: true, force: true });
  });
});
