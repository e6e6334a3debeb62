import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { analyzeManifest } from "../../../src/oci/analyze.js";
import { DirectoryObjectStore } from "../../../src/storage/directory-store.js";
import { CATALOG_KEY, RegistryLayout } from "../../../src/storage/registry-layout.js";
import { CountingStore } from "../../helpers/fault-store.js";
import {
  expectedRefCounts,
  expectedRepositoryTotals,
  writeRegistryFixture,
  writeScaleRegistry,
} from "../../fixtures/registry-fixture.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "epoch-demo-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeScaleRegistry", () => {
  it("writes N tags with one catalog write and no catalog reads", async () => {
    const counting = new CountingStore(new DirectoryObjectStore(dir, { durable: false }));
    const summary = await writeScaleRegistry(counting, {
      tags: 250,
      tagsPerRepository: 100,
      now: new Date("2024-01-01T00:00:00Z"),
    });
    expect(counting.count({ op: "put", keyMatch: CATALOG_KEY })).toBe(1);
    expect(counting.count({ op: "get" })).toBe(0);
    expect(summary).toMatchObject({ tags: 250, repositories: 3, manifests: 226 });
    const cat = await new RegistryLayout(counting).readCatalog();
    if (cat.status !== "ok") throw new Error("catalog expected");
    expect(cat.catalog.updatedAt).toBe("2024-01-01T00:00:00Z");
    expect(cat.catalog.repositories.map((r) => [r.name, r.tags.length])).toEqual([
      ["scale/repo-0", 100],
      ["scale/repo-1", 100],
      ["scale/repo-2", 50],
    ]);
    const m = await new RegistryLayout(counting).readManifest("scale/repo-2", "t49");
    expect(m.status === "ok" && analyzeManifest(m.bytes).kind).toBe("CONTAINER_IMAGE");
  });
});

describe("writeScaleRegistry ranges", () => {
  it("consecutive ranges (firstTag) hold together exactly the objects of the whole range", async () => {
    const objects = async (root: string) => {
      const out = new Map<string, string>();
      for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
        if (!e.isFile() || e.name === "catalog.json") continue;
        const path = join(e.parentPath, e.name);
        out.set(path.slice(root.length), (await readFile(path)).toString("base64"));
      }
      return out;
    };
    const now = new Date("2024-01-01T00:00:00Z");
    const whole = join(dir, "whole");
    await writeScaleRegistry(new DirectoryObjectStore(whole, { durable: false }), { tags: 300, now });
    const parts = new Map<string, string>();
    // 100 and 200 are shared tags (every 10th): each part starts on one.
    for (const firstTag of [0, 100, 200]) {
      const root = join(dir, `part-${firstTag}`);
      const summary = await writeScaleRegistry(new DirectoryObjectStore(root, { durable: false }), {
        tags: 100,
        firstTag,
        now,
      });
      expect(summary.repositories).toBe(1);
      for (const [k, v] of await objects(root)) parts.set(k, v);
    }
    expect(parts).toEqual(await objects(whole));
  });
});

describe("registry fixture description", () => {
  it("describes every kind, shared layers and the broken entries", async () => {
    const fx = await writeRegistryFixture(new DirectoryObjectStore(dir));
    const byName = new Map(fx.tags.map((t) => [`${t.repository}:${t.tag}`, t]));
    expect(byName.get("library/alpine:latest")?.digest).toBe(byName.get("library/alpine:3.19")?.digest);
    expect(byName.get("library/alpine:Latest")?.digest).not.toBe(byName.get("library/alpine:latest")?.digest);
    expect(byName.get("broken/index:partial")).toMatchObject({ incomplete: true, broken: "INDEX_CHILD_MISSING" });
    expect(fx.failures.map((f) => `${f.repository}:${f.tag}:${f.broken}`).sort()).toEqual([
      "Bad/UPPER:x:INVALID_NAME",
      "broken/index:partial:INDEX_CHILD_MISSING",
      "broken/invalid:json:MANIFEST_INVALID",
      "broken/invalid:negative:MANIFEST_INVALID",
      "broken/missing:gone:MANIFEST_MISSING",
      "broken/names:.hidden:INVALID_NAME",
      "broken/names:bad tag!:INVALID_NAME",
    ]);
    // The alpine base layer is shared by alpine (3 tags) and team/app/api (2 tags).
    const base = byName.get("library/alpine:latest")!.blobs.find((b) => b.size === 3_072)!;
    expect(expectedRefCounts(fx.tags).get(base.digest)?.refCount).toBe(5);
    // Exact repository totals count a shared layer once.
    const api = expectedRepositoryTotals(fx.tags).get("team/app/api")!;
    const v2 = byName.get("team/app/api:v2")!;
    expect(api).toBe(v2.totalSize);
  });
});
