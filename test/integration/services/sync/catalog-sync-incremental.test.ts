/**
 * Incremental catalog syncs after each kind of change (retag, new tag, deleted tag with a
 * catalog-only updatedAt bump, deleted repository, corrupted manifest, missing index child), on
 * SQLite and MariaDB with the directory store and S3 (s3rver): exact counts, exact object-store
 * requests, and an index equal to the one a fresh sync of the same registry builds.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import { computeDigest } from "../../../../src/oci/digest.js";
import { imageManifestBytes, seededBytes } from "../../../../src/demo/demo-builder.js";
import { manifestKey } from "../../../../src/storage/registry-layout.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { OCI_CONFIG, OCI_LAYER, image } from "../../../helpers/images.js";
import { useS3Server } from "../../../helpers/s3-server.js";
import {
  BLOB_RECOUNT,
  createSyncHarness,
  dumpIndex,
  failuresOf,
  freshDump,
  runSync,
  type StoreKind,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const s3 = useS3Server();

for (const kind of ["directory", "s3"] as StoreKind[]) {
  forEachDialect(`incremental catalog sync (${kind})`, (dialect) => {
    let h: SyncHarness;
    beforeEach(async () => {
      h = await createSyncHarness(dialect, kind, s3());
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("re-syncs each kind of change with exact counts, requests, and the index a fresh sync builds", async () => {
      const fx = await writeRegistryFixture(h.store);
      await runSync(h.sync);
      const alpineTags = fx.indexable.filter((t) => t.repository === "library/alpine").length;
      // Failed tags are retried by every run that reads a changed catalog: each valid failing tag
      // once, plus the children of the incomplete index.
      const broken = fx.tags.filter((t) => t.broken !== undefined && t.broken !== "INVALID_NAME");
      const retried = broken.length + broken.filter((t) => t.incomplete).reduce((n, t) => n + t.layerCount, 0);
      const step = async (expected: Record<string, number>, state = "DEGRADED") => {
        h.requests.reset();
        const before = h.statements.count;
        const { finished, events } = await runSync(h.sync);
        expect({ state: finished.state, ...finished.counts }).toMatchObject({ state, ...expected });
        // The stats' blob numbers moved with the changed tags: the run scanned no blob.
        expect(h.statements.statements.slice(before).filter((q) => BLOB_RECOUNT.test(q))).toEqual([]);
        expect(h.requests.total).toBe(finished.counts.objectStoreRequests);
        expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
        return events;
      };

      // Retag one single-manifest tag: its repository's k tags are asked for (k - 1 answer 304).
      await h.layout.pushManifest("library/alpine", "latest", image(1));
      // The plan reads the tag rows of the repositories the catalog does not prove unchanged (by
      // updatedAt and tag-set hash): the retagged one and those with failed or incomplete tags.
      const mustRead = await h.db.ds.query(
        "SELECT id FROM repositories WHERE name = 'library/alpine' OR catalog_updated_at IS NULL OR tag_set_sha256 IS NULL ORDER BY id",
      );
      const repositoryCount = (await h.db.ds.query("SELECT COUNT(*) AS n FROM repositories"))[0].n;
      h.statements.reset();
      await step({
        tagsUpdated: 1,
        tagsAdded: 0,
        tagsRemoved: 0,
        tagsFailed: fx.failures.length,
        objectStoreRequests: 1 + alpineTags + retried,
      });
      const tagReads = /^SELECT t\.repository_id, t\.name, t\.digest/;
      const read = h.statements.parametersOf(tagReads).flatMap((params) => params.slice(1).map(Number));
      expect(read.sort((a, b) => a - b)).toEqual(mustRead.map((r: { id: unknown }) => Number(r.id)));
      expect(read.length).toBeLessThan(Number(repositoryCount));

      // A new tag in a new repository.
      await h.layout.pushManifest("fresh/repo", "v1", image(2));
      await step({ tagsAdded: 1, repositoriesAdded: 1, tagsUpdated: 0, objectStoreRequests: 1 + 1 + retried });

      // A deleted tag: only the catalog's updatedAt moves, not the repository's.
      await h.layout.removeTag("library/alpine", "3.19");
      await step({ tagsRemoved: 1, tagsUpdated: 0, tagsAdded: 0, objectStoreRequests: 1 + (alpineTags - 1) + retried });

      // A deleted repository.
      await h.layout.removeTag("team/app/api", "v1");
      await h.layout.removeTag("team/app/api", "v2");
      await step({ tagsRemoved: 2, repositoriesRemoved: 1, objectStoreRequests: 1 + retried });

      // The missing index child appears: the incomplete tag is read again and completes.
      await writeMissingChild(h);
      await h.layout.pushManifest("fresh/repo", "v2", image(3));
      const events = await step({
        tagsUpdated: 1,
        tagsAdded: 1,
        tagsFailed: fx.failures.length - 1,
        objectStoreRequests: 1 + 2 + retried,
      });
      expect(failuresOf(events).filter((f) => f.repository === "broken/index")).toEqual([]);
      expect((await dumpIndex(h.db)).tags.find((t) => t.repository === "broken/index")).toMatchObject({
        incomplete: false,
      });
    });

    it("moves the stats' blob numbers with each change, and a full run recounts them", async () => {
      await writeRegistryFixture(h.store);
      await runSync(h.sync);
      // Drift no write would cause (a hand edit, a bug): incremental runs keep it, full runs repair it.
      await h.db.ds.query("UPDATE registry_stats SET blob_count = blob_count + 5, total_size = total_size + 7");
      await h.layout.pushManifest("library/alpine", "latest", image(4));
      await h.layout.removeTag("team/app/api", "v1");
      h.statements.reset();
      await runSync(h.sync);
      expect(h.statements.matching(BLOB_RECOUNT)).toEqual([]);
      const fresh = (await freshDump(dialect, h.store)).stats!;
      expect((await dumpIndex(h.db)).stats).toEqual({
        ...fresh,
        blobCount: Number(fresh.blobCount) + 5,
        totalSize: Number(fresh.totalSize) + 7,
      });
      h.statements.reset();
      await runSync(h.sync, { full: true });
      expect(h.statements.matching(BLOB_RECOUNT)).toHaveLength(1);
      expect((await dumpIndex(h.db)).stats).toEqual(fresh);
    });

    it("keeps a corrupted manifest's previous row, reports it, and recovers once it is readable", async () => {
      await writeRegistryFixture(h.store, { broken: false });
      await runSync(h.sync);
      const before = (await dumpIndex(h.db)).tags.find((t) => t.repository === "library/debian")!;
      const key = manifestKey("library/debian", "bookworm");
      const original = await h.store.get(key);
      await h.store.put(key, Buffer.from("{ not json"));
      await h.layout.pushManifest("library/debian", "trixie", image(4)); // moves the repository's updatedAt
      h.requests.reset();
      const { events, finished } = await runSync(h.sync);
      expect(finished.state).toBe("DEGRADED");
      expect(finished.counts).toMatchObject({ tagsAdded: 1, tagsUpdated: 0, objectStoreRequests: 3 });
      expect(failuresOf(events).filter((f) => f.repository === "library/debian")).toEqual([
        { repository: "library/debian", tag: "bookworm", reason: "MANIFEST_INVALID", message: expect.any(String) },
      ]);
      expect(
        (await dumpIndex(h.db)).tags.find((t) => t.repository === "library/debian" && t.name === "bookworm"),
      ).toEqual(before);

      // Readable again, and the catalog changes elsewhere: the failed repository is retried.
      await h.store.put(key, original.status === "ok" ? original.body : Buffer.alloc(0));
      await h.layout.pushManifest("fresh/repo", "v1", image(5));
      h.requests.reset();
      const again = await runSync(h.sync);
      expect(again.finished.state).toBe("SUCCEEDED");
      // debian is read again (its failure kept it from being skipped): both tags answer 304.
      expect(again.finished.counts).toMatchObject({
        tagsAdded: 1,
        tagsUpdated: 0,
        tagsFailed: 0,
        objectStoreRequests: 4,
      });
      const fresh = await freshDump(dialect, h.store);
      // Same digest, so its push time stayed (Epoch); a fresh sync reads the rewritten object's time.
      const strip = (d: Awaited<ReturnType<typeof dumpIndex>>) => ({
        ...d,
        tags: d.tags.map((t) => (t.repository === "library/debian" ? { ...t, pushedAt: "", objectEtag: "" } : t)),
        repositories: d.repositories.map((r) => (r.name === "library/debian" ? { ...r, updatedAt: "" } : r)),
      });
      expect(strip(await dumpIndex(h.db))).toEqual(strip(fresh));
    });
  });
}

/**
 * Writes the child the fixture leaves out of broken/index's `_digests/`: rebuilt from the
 * fixture's recipe (its config and the seeded "partial-lost" layer) and checked against the
 * digest the index lists, so a change in the fixture fails here rather than silently.
 */
async function writeMissingChild(h: SyncHarness): Promise<void> {
  const got = await h.store.get(manifestKey("broken/index", "partial"));
  if (got.status !== "ok") throw new Error("unreachable");
  const index = JSON.parse(got.body.toString()) as { manifests: Array<{ digest: string }> };
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux" }));
  const child = imageManifestBytes({
    config: { digest: computeDigest(config), size: config.length, mediaType: OCI_CONFIG },
    layers: [{ digest: computeDigest(seededBytes("partial-lost", 888)), size: 888, mediaType: OCI_LAYER }],
  });
  expect(index.manifests.map((m) => m.digest)).toContain(computeDigest(child));
  await h.layout.pushManifestByDigest("broken/index", child);
}
