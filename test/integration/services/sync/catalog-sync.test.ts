/**
 * The catalog sync against the fixture registry (DESIGN §4), on SQLite and MariaDB, with the
 * directory store and S3 (s3rver): every index value is computed here from the fixture's own
 * description; an unchanged catalog costs one request; a bad catalog (missing, mass removal)
 * writes nothing. Incremental changes: catalog-sync-incremental.test.ts.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { CATALOG_KEY, manifestKey, removeCatalogTag } from "../../../../src/storage/registry-layout.js";
import {
  expectedRefCounts,
  expectedRepositoryTotals,
  writeRegistryFixture,
  writeScaleRegistry,
  type ExpectedTag,
  type RegistryFixture,
} from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { image } from "../../../helpers/images.js";
import { useS3Server } from "../../../helpers/s3-server.js";
import {
  createSyncHarness,
  dumpIndex,
  failuresOf,
  firstSyncRequests,
  freshDump,
  indexWrites,
  runSync,
  type StoreKind,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const s3 = useS3Server();

async function pushTime(h: SyncHarness, t: ExpectedTag): Promise<string> {
  if (t.createdAt) return new Date(Date.parse(t.createdAt.replace(/(\.\d{3})\d+/, "$1"))).toISOString();
  const head = await h.store.head(manifestKey(t.repository, t.tag));
  return head!.lastModified.toISOString();
}

for (const kind of ["directory", "s3"] as StoreKind[]) {
  forEachDialect(`catalog sync (${kind})`, (dialect) => {
    let h: SyncHarness;
    let fx: RegistryFixture;
    beforeEach(async () => {
      h = await createSyncHarness(dialect, kind, s3());
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("indexes the fixture to exactly the values its description implies", async () => {
      fx = await writeRegistryFixture(h.store);
      const { events, finished } = await runSync(h.sync);
      expect(finished.state).toBe("DEGRADED");
      expect(finished.counts).toEqual({
        repositoriesAdded: fx.repositories.length,
        repositoriesRemoved: 0,
        tagsAdded: fx.indexable.length,
        tagsUpdated: 0,
        tagsUnchanged: 0,
        tagsRemoved: 0,
        tagsFailed: fx.failures.length,
        objectStoreRequests: firstSyncRequests(fx.tags),
      });
      expect(h.requests.total).toBe(finished.counts.objectStoreRequests);
      // Invalid names were never turned into keys.
      expect(h.requests.log.filter((r) => /UPPER|bad tag|\.hidden/.test(r.key))).toEqual([]);
      expect(failuresOf(events).map((f) => [f.repository, f.tag, f.reason])).toEqual(
        [...fx.failures]
          .sort((a, b) => `${a.repository}:${a.tag}`.localeCompare(`${b.repository}:${b.tag}`))
          .map((f) => [f.repository, f.tag, f.broken]),
      );

      const dump = await dumpIndex(h.db);
      const expectedTags = await Promise.all(
        fx.indexable.map(async (t) => ({
          repository: t.repository,
          name: t.tag,
          digest: t.digest,
          manifest: t.digest,
          kind: t.kind,
          totalSize: t.totalSize,
          pushedAt: await pushTime(h, t),
          incomplete: t.incomplete,
        })),
      );
      const byName = (a: Record<string, unknown>, b: Record<string, unknown>) =>
        `${String(a.repository)}\0${String(a.name)}` < `${String(b.repository)}\0${String(b.name)}` ? -1 : 1;
      expect(dump.tags.map(({ objectEtag: _e, ...rest }) => rest).sort(byName)).toEqual(expectedTags.sort(byName));
      for (const t of dump.tags) expect(t.objectEtag).toMatch(/^".+"$/);

      const byDigest = new Map(fx.indexable.map((t) => [t.digest!, t]));
      expect(dump.manifests.map((m) => m.digest).sort()).toEqual([...byDigest.keys()].sort());
      for (const m of dump.manifests) {
        const t = byDigest.get(String(m.digest))!;
        expect({
          mediaType: m.mediaType,
          artifactType: m.artifactType,
          kind: m.kind,
          totalSize: m.totalSize,
          layerCount: m.layerCount,
        }).toEqual({
          mediaType: t.mediaType,
          artifactType: t.artifactType ?? "",
          kind: t.kind,
          totalSize: t.totalSize,
          layerCount: t.layerCount,
        });
        expect(m.platformSizes).toEqual(t.platformSizes ?? null);
      }
      const edges = [...new Set(fx.indexable.flatMap((t) => t.blobs.map((b) => `${t.digest!} ${b.digest}`)))].sort();
      expect(dump.edges).toEqual(edges);

      const refs = expectedRefCounts(fx.tags);
      expect(dump.blobs).toEqual(
        [...refs]
          .map(([digest, b]) => ({ digest, size: b.size, mediaType: b.mediaType, refCount: b.refCount }))
          .sort((a, b) => (a.digest < b.digest ? -1 : 1)),
      );

      const totals = expectedRepositoryTotals(fx.tags);
      const pushed = new Map(expectedTags.map((t) => [`${t.repository}:${t.name}`, t.pushedAt]));
      const expectedRepos = fx.repositories.map((name) => {
        const tags = fx.indexable.filter((t) => t.repository === name);
        const latest = [...tags].sort((a, b) => {
          const pa = pushed.get(`${a.repository}:${a.tag}`)!;
          const pb = pushed.get(`${b.repository}:${b.tag}`)!;
          return pa !== pb ? (pa < pb ? 1 : -1) : a.tag < b.tag ? 1 : -1;
        })[0]!;
        const failed = fx.failures.some((f) => f.repository === name);
        return {
          name,
          tagCount: tags.length,
          totalSize: totals.get(name),
          kind: latest.kind,
          artifactType: latest.artifactType ?? "",
          updatedAt: pushed.get(`${latest.repository}:${latest.tag}`),
          failed,
        };
      });
      expect(
        dump.repositories.map((r) => ({
          name: r.name,
          tagCount: r.tagCount,
          totalSize: r.totalSize,
          kind: r.kind,
          artifactType: r.artifactType,
          updatedAt: r.updatedAt,
          failed: r.catalogUpdatedAt === null,
        })),
      ).toEqual(expectedRepos);

      const kinds: Record<string, number> = {};
      for (const t of fx.indexable) kinds[t.kind!] = (kinds[t.kind!] ?? 0) + 1;
      expect(dump.stats).toEqual({
        repositoryCount: fx.repositories.length,
        tagCount: fx.indexable.length,
        blobCount: refs.size,
        totalSize: [...refs.values()].reduce((s, b) => s + b.size, 0),
        kinds: Object.fromEntries(Object.entries(kinds).sort()),
      });
      expect(dump).toEqual(await freshDump(dialect, h.store));
    });

    it("answers an unchanged catalog with one request and no index writes", async () => {
      fx = await writeRegistryFixture(h.store);
      await runSync(h.sync);
      h.requests.reset();
      h.statements.reset();
      const { finished } = await runSync(h.sync);
      expect(finished.state).toBe("SUCCEEDED");
      expect(finished.counts).toMatchObject({
        objectStoreRequests: 1,
        tagsUnchanged: fx.indexable.length,
        tagsAdded: 0,
        tagsUpdated: 0,
        tagsFailed: 0,
      });
      expect(h.requests.log).toEqual([{ op: "get", key: CATALOG_KEY }]);
      expect(indexWrites(h.statements)).toEqual([]);
      // Lease, run row, stored ETag, last-sync time, release, and the outcome with its
      // /sync/finished (one transaction of 7 statements): a constant, whatever the registry's size.
      expect(h.statements.count).toBeLessThanOrEqual(16);

      // A restart (a new service on the same database) still has the catalog's ETag.
      h.requests.reset();
      expect((await runSync(h.replica())).finished.counts.objectStoreRequests).toBe(1);
    });

    it("costs at most k + 2 requests for one changed tag in a repository of k tags", async () => {
      for (let i = 0; i < 5; i++) await h.layout.pushManifest("team/k", `t${i}`, image(10 + i));
      await writeRegistryFixture(h.store, { broken: false });
      await runSync(h.sync);
      h.requests.reset();
      await h.layout.pushManifest("team/k", "t3", image(20));
      const { finished } = await runSync(h.sync);
      expect(finished.state).toBe("SUCCEEDED");
      expect(finished.counts).toMatchObject({
        tagsUpdated: 1,
        tagsUnchanged: 4 + (await dumpIndex(h.db)).tags.length - 5,
      });
      expect(finished.counts.objectStoreRequests).toBeLessThanOrEqual(5 + 2);
      expect(h.requests.count({ op: "get", keyMatch: /^manifests\/(?!team\/k\/)/ })).toBe(0);
    });

    it("writes nothing when the catalog is missing over a non-empty index", async () => {
      await writeRegistryFixture(h.store, { broken: false });
      await runSync(h.sync);
      const before = await dumpIndex(h.db);
      await h.store.delete(CATALOG_KEY);
      h.statements.reset();
      const { finished } = await runSync(h.sync);
      expect(finished).toMatchObject({ state: "FAILED", errorReason: "CATALOG_MISSING" });
      expect(indexWrites(h.statements)).toEqual([]);
      expect(await dumpIndex(h.db)).toEqual(before);
    });

    it("stops a mass removal before writing unless allowed", async () => {
      await writeScaleRegistry(h.store, { tags: 120, tagsPerRepository: 120 });
      await h.layout.pushManifest("other/repo", "v1", image(6));
      await runSync(h.sync);
      const before = await dumpIndex(h.db);
      await h.layout.updateCatalog((doc, now) => {
        for (let i = 0; i < 120; i++) removeCatalogTag(doc, "scale/repo-0", `t${i}`, now);
        return true;
      });
      h.statements.reset();
      const { finished } = await runSync(h.sync);
      expect(finished).toMatchObject({ state: "FAILED", errorReason: "MASS_REMOVAL" });
      expect(indexWrites(h.statements)).toEqual([]);
      expect(await dumpIndex(h.db)).toEqual(before);

      const dry = await runSync(h.sync, { allowMassRemoval: true, dryRun: true });
      expect(dry.finished).toMatchObject({
        state: "SUCCEEDED",
        counts: { tagsRemoved: 120, repositoriesRemoved: 1, tagsUnchanged: 1 },
      });
      expect(await dumpIndex(h.db)).toEqual(before);

      const allowed = await runSync(h.sync, { allowMassRemoval: true });
      expect(allowed.finished.counts).toMatchObject({ tagsRemoved: 120, repositoriesRemoved: 1 });
      expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
    });
  });
}
