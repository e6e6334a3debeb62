import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeManifest, completeIndex } from "../../../src/oci/analyze.js";
import { parseManifest, type ParsedManifest } from "../../../src/oci/manifest.js";
import { DirectoryObjectStore } from "../../../src/storage/directory-store.js";
import type { ObjectStore } from "../../../src/storage/object-store.js";
import { CATALOG_KEY, RegistryLayout, setCatalogTag } from "../../../src/storage/registry-layout.js";
import { CountingStore, FaultStore } from "../../helpers/fault-store.js";
import { startS3Server, type TestS3Server } from "../../helpers/s3-server.js";
import { writeRegistryFixture } from "../../fixtures/registry-fixture.js";

let s3: TestS3Server;
const dirs: string[] = [];
let n = 0;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const backends: Array<[string, () => Promise<ObjectStore>]> = [
  [
    "directory",
    async () => {
      const d = await mkdtemp(join(tmpdir(), "epoch-layout-"));
      dirs.push(d);
      return new DirectoryObjectStore(d);
    },
  ],
  ["s3 (s3rver)", async () => s3.open({ prefix: `layout-${++n}` })],
];

const manifest = (layer: number) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${"1".repeat(64)}`, size: 10 },
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
          digest: `sha256:${layer.toString(16).padStart(64, "0")}`,
          size: 100,
        },
      ],
    }),
  );

describe.each(backends)("registry layout on %s", (_name, open) => {
  it("pushes a manifest under tag and digest keys and lists it in the catalog", async () => {
    const store = await open();
    let clock = new Date("2024-05-01T10:00:00Z");
    const layout = new RegistryLayout(store, { now: () => clock });
    expect(await layout.readCatalog()).toEqual({ status: "missing" });
    const { digest } = await layout.pushManifest("team/app", "v1", manifest(1));
    const byTag = await layout.readManifest("team/app", "v1");
    const byDigest = await layout.readManifestByDigest("team/app", digest);
    expect(byTag.status === "ok" && byTag.bytes.equals(manifest(1))).toBe(true);
    expect(byDigest.status === "ok" && byDigest.bytes.equals(manifest(1))).toBe(true);
    const cat = await layout.readCatalog();
    if (cat.status !== "ok") throw new Error("catalog expected");
    expect(cat.catalog.updatedAt).toBe("2024-05-01T10:00:00Z");
    expect(cat.catalog.repositories).toEqual([
      {
        name: "team/app",
        updatedAt: "2024-05-01T10:00:00Z",
        updatedAtDate: clock,
        tags: [{ name: "v1", key: "manifests/team/app/v1.json" }],
      },
    ]);
    expect(cat.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await layout.readCatalog({ ifNoneMatch: cat.etag })).toEqual({ status: "not_modified", etag: cat.etag });
    const etag = byTag.status === "ok" ? byTag.etag : "";
    expect(await layout.readManifest("team/app", "v1", { ifNoneMatch: etag })).toEqual({
      status: "not_modified",
      etag,
    });

    clock = new Date("2024-05-01T11:00:00Z");
    await layout.pushManifest("team/app", "v2", manifest(2));
    await layout.pushManifest("other", "x", manifest(3));
    clock = new Date("2024-05-01T12:00:00Z");
    expect(await layout.removeTag("team/app", "v1")).toEqual({ removed: true });
    await expect(layout.readManifest("team/app", "v1")).rejects.toMatchObject({
      kind: "not_found",
      reason: "MANIFEST_MISSING",
    });
    // The _digests copy stays (it may be shared); only the tag key goes.
    expect((await layout.readManifestByDigest("team/app", digest)).status).toBe("ok");
    const after = await layout.readCatalog();
    if (after.status !== "ok") throw new Error("catalog expected");
    expect(after.catalog.updatedAt).toBe("2024-05-01T12:00:00Z");
    expect(after.catalog.repositories.map((r) => [r.name, r.updatedAt, r.tags.map((t) => t.name)])).toEqual([
      ["other", "2024-05-01T11:00:00Z", ["x"]],
      ["team/app", "2024-05-01T11:00:00Z", ["v2"]],
    ]);
    expect(await layout.removeTag("team/app", "v2")).toEqual({ removed: true });
    expect(await layout.removeTag("team/app", "v2")).toEqual({ removed: false });
    const last = await layout.readCatalog();
    expect(last.status === "ok" && last.catalog.repositories.map((r) => r.name)).toEqual(["other"]);
  });

  it("pushes and heads blobs by digest", async () => {
    const layout = new RegistryLayout(await open());
    const { digest, size } = await layout.pushBlob(Buffer.from("blob content"));
    expect(await layout.headBlob(digest)).toMatchObject({ size });
    expect(size).toBe(12);
    expect(await layout.headBlob(`sha256:${"f".repeat(64)}`)).toBeNull();
    await expect(layout.readManifestByDigest("r", `sha256:${"f".repeat(64)}`)).rejects.toMatchObject({
      reason: "MANIFEST_MISSING",
    });
  });

  it("writes a fixture whose description matches an independent analysis of every tag", async () => {
    const store = await open();
    const fx = await writeRegistryFixture(store, { now: () => new Date("2024-06-01T00:00:00Z") });
    const layout = new RegistryLayout(store);
    const cat = await layout.readCatalog();
    if (cat.status !== "ok") throw new Error("catalog expected");
    // Every catalog tag is described, and every described tag is in the catalog.
    const listed = [
      ...cat.catalog.repositories.flatMap((r) => r.tags.map((t) => `${r.name}:${t.name}`)),
      ...cat.catalog.issues.map((i) => `${i.repository}:${i.tag}`),
    ].sort();
    expect(listed).toEqual(fx.tags.map((t) => `${t.repository}:${t.tag}`).sort());
    expect(cat.catalog.issues.map((i) => `${i.repository}:${i.tag}:${i.reason}`).sort()).toEqual(
      fx.failures
        .filter((f) => f.broken === "INVALID_NAME")
        .map((f) => `${f.repository}:${f.tag}:INVALID_NAME`)
        .sort(),
    );
    const kinds = new Set(fx.indexable.map((t) => t.kind));
    expect([...kinds].sort()).toEqual(["CLOUD_IMAGE", "CONTAINER_IMAGE", "IMAGE_INDEX", "SNAPSHOT", "UNKNOWN"]);

    for (const t of fx.tags) {
      if (t.broken === "INVALID_NAME") continue;
      if (t.broken === "MANIFEST_MISSING") {
        await expect(layout.readManifest(t.repository, t.tag)).rejects.toMatchObject({ reason: "MANIFEST_MISSING" });
        continue;
      }
      const read = await layout.readManifest(t.repository, t.tag);
      if (read.status !== "ok") throw new Error("manifest expected");
      if (t.broken === "MANIFEST_INVALID") {
        expect(() => analyzeManifest(read.bytes)).toThrow(expect.objectContaining({ reason: "MANIFEST_INVALID" }));
        continue;
      }
      const a = analyzeManifest(read.bytes);
      expect({ digest: a.digest, kind: a.kind, mediaType: a.mediaType, artifactType: a.artifactType }).toEqual({
        digest: t.digest,
        kind: t.kind,
        mediaType: t.mediaType,
        artifactType: t.artifactType,
      });
      expect(a.createdAt?.getTime()).toBe(t.createdAt ? new Date(t.createdAt).getTime() : undefined);
      let summary;
      if (a.summary) {
        summary = { ...a.summary, incomplete: false };
      } else {
        const children = new Map<string, ParsedManifest>();
        for (const c of a.childDigests) {
          const child = await layout.readManifestByDigest(t.repository, c).catch(() => undefined);
          if (child?.status === "ok") children.set(c, parseManifest(child.bytes));
        }
        const s = completeIndex(a, children);
        expect(s.platformSizes).toEqual(t.platformSizes);
        summary = s;
      }
      expect({
        totalSize: summary.totalSize,
        layerCount: summary.layerCount,
        blobs: summary.blobs,
        incomplete: summary.incomplete,
      }).toEqual({
        totalSize: t.totalSize,
        layerCount: t.layerCount,
        blobs: t.blobs,
        incomplete: t.incomplete,
      });
      for (const blob of t.blobs)
        expect(await layout.headBlob(blob.digest), `${t.repository}:${t.tag} ${blob.digest}`).toMatchObject({
          size: blob.size,
        });
    }
  });
});

describe("catalog read-modify-write with conditional puts (directory store)", () => {
  async function dirStore(): Promise<DirectoryObjectStore> {
    const d = await mkdtemp(join(tmpdir(), "epoch-layout-cas-"));
    dirs.push(d);
    return new DirectoryObjectStore(d);
  }

  it("loses no concurrent push", async () => {
    const store = await dirStore();
    const writers = Array.from(
      { length: 8 },
      () => new RegistryLayout(store, { catalogAttempts: 50, sleep: async () => undefined }),
    );
    await Promise.all(writers.map((w, i) => w.pushManifest(`repo/${i % 3}`, `t${i}`, manifest(i))));
    const cat = await new RegistryLayout(store).readCatalog();
    if (cat.status !== "ok") throw new Error("catalog expected");
    expect(cat.catalog.repositories.flatMap((r) => r.tags.map((t) => `${r.name}:${t.name}`)).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `repo/${i % 3}:t${i}`).sort(),
    );
  });

  it("retries when another writer changes the catalog between read and write", async () => {
    const inner = await dirStore();
    const counting = new CountingStore(inner);
    const faults = new FaultStore(counting);
    const layout = new RegistryLayout(faults, { sleep: async () => undefined });
    await layout.pushManifest("a", "one", manifest(1));
    const other = new RegistryLayout(inner);
    // Right before our catalog write, someone else pushes a tag.
    faults.beforeRequest({
      op: "put",
      keyMatch: CATALOG_KEY,
      times: 1,
      fn: () => other.updateCatalog((doc, now) => setCatalogTag(doc, "b", "other", now)),
    });
    counting.reset();
    await layout.removeTag("a", "one");
    expect(counting.count({ op: "get", keyMatch: CATALOG_KEY })).toBe(2);
    expect(counting.count({ op: "put", keyMatch: CATALOG_KEY })).toBe(2);
    const cat = await layout.readCatalog();
    expect(
      cat.status === "ok" && cat.catalog.repositories.map((r) => `${r.name}:${r.tags.map((t) => t.name).join()}`),
    ).toEqual(["b:other"]);
  });

  it("gives up with CATALOG_CONFLICT after the configured attempts", async () => {
    const inner = await dirStore();
    const faults = new FaultStore(inner);
    const layout = new RegistryLayout(faults, { catalogAttempts: 3, sleep: async () => undefined });
    await layout.pushManifest("a", "one", manifest(1));
    faults.failNext({ op: "put", keyMatch: CATALOG_KEY, error: "precondition_failed", times: Infinity });
    await expect(layout.pushManifest("a", "two", manifest(2))).rejects.toMatchObject({
      kind: "aborted",
      reason: "CATALOG_CONFLICT",
    });
    expect(faults.injected).toBe(3);
  });

  it("creates a missing catalog with If-None-Match so two first writers cannot both win", async () => {
    const inner = await dirStore();
    const faults = new FaultStore(inner);
    const layout = new RegistryLayout(faults, { sleep: async () => undefined });
    faults.beforeRequest({
      op: "put",
      keyMatch: CATALOG_KEY,
      times: 1,
      fn: () => new RegistryLayout(inner).updateCatalog((doc, now) => setCatalogTag(doc, "first", "x", now)),
    });
    await layout.pushManifest("second", "y", manifest(2));
    const cat = await layout.readCatalog();
    expect(cat.status === "ok" && cat.catalog.repositories.map((r) => r.name)).toEqual(["first", "second"]);
  });

  it("uses plain puts, as Epoch does, where the store cannot enforce conditions", async () => {
    const store = s3.open({ prefix: `layout-plain-${++n}`, retry: false });
    expect(store.capabilities.conditionalPut).toBe(false);
    const counting = new CountingStore(store);
    const layout = new RegistryLayout(counting);
    await layout.pushManifest("r", "t", manifest(1));
    // _digests copy, tag key, catalog get (404), catalog put: no hidden HEAD for a condition.
    expect(counting.byOp).toEqual({ get: 1, head: 0, put: 3, delete: 0, deleteBatch: 0, list: 0 });
  });
});
