/**
 * Labels on repositories and tags (DESIGN.md §8.2), on SQLite and MariaDB: update-mask
 * semantics, limits, and where labels live — tag labels belong to the tag's name (every sync,
 * full or incremental, and a retag keep them; DeleteTag and a sync that removes the tag take
 * them along), repository labels go with the repository.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readLabels } from "../../../../src/db/labels/label-store.js";
import { MetadataLabels } from "../../../../src/services/labels/metadata-labels.js";
import { configureLogger } from "../../../../src/logger.js";
import { removeCatalogTag } from "../../../../src/storage/registry-layout.js";
import { writeRegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { rejection } from "../../../helpers/errors.js";
import { image } from "../../../helpers/images.js";
import { createSyncHarness, FULL, runSync, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

forEachDialect("labels", (dialect) => {
  let h: SyncHarness;
  let labels: MetadataLabels;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    await writeRegistryFixture(h.store, { broken: false });
    await runSync(h.sync);
    labels = new MetadataLabels(h.db);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const tagLabels = (repository: string, tag: string) =>
    labels.updateTag(repository, tag, { labels: {}, updateMask: ["labels.__none__"] });
  const rowCount = async (table: string) => Number((await h.db.ds.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);

  describe("update_mask", () => {
    it("`labels` (and an empty mask) replaces them all; `labels.<key>` sets or deletes one key", async () => {
      expect(
        await labels.updateTag("library/alpine", "3.19", { labels: { env: "prod", team: "a" }, updateMask: [] }),
      ).toEqual({
        env: "prod",
        team: "a",
      });
      expect(
        await labels.updateTag("library/alpine", "3.19", { labels: { tier: "1" }, updateMask: ["labels"] }),
      ).toEqual({
        tier: "1",
      });
      // Set one key (the other request labels are not in the mask: ignored), delete another.
      expect(
        await labels.updateTag("library/alpine", "3.19", {
          labels: { env: "staging", ignored: "x" },
          updateMask: ["labels.env", "labels.tier"],
        }),
      ).toEqual({ env: "staging" });
      // Everything after the first `labels.` is the key, dots included.
      expect(
        await labels.updateTag("library/alpine", "3.19", {
          labels: { "labels.x": "1", "io.epoch/owner": "me" },
          updateMask: ["labels.labels.x", "labels.io.epoch/owner"],
        }),
      ).toEqual({ env: "staging", "io.epoch/owner": "me", "labels.x": "1" });
      expect(await tagLabels("library/alpine", "3.19")).toEqual({
        env: "staging",
        "io.epoch/owner": "me",
        "labels.x": "1",
      });
      // Repository labels work the same way and are their own.
      expect(await labels.updateRepository("library/alpine", { labels: { owner: "ops" }, updateMask: [] })).toEqual({
        owner: "ops",
      });
      expect(await readLabels(h.db, "repository", [1, "library/alpine"])).toEqual({ owner: "ops" });
      expect(await tagLabels("library/alpine", "latest")).toEqual({});
    });

    it("writes only what changes", async () => {
      await labels.updateTag("library/alpine", "3.19", { labels: { a: "1", b: "2" }, updateMask: [] });
      h.statements.reset();
      await labels.updateTag("library/alpine", "3.19", { labels: { a: "1", b: "2" }, updateMask: [] });
      expect(h.statements.matching(/^\s*(INSERT|DELETE)/i)).toEqual([]);
    });

    it("refuses other paths, bad keys and values, and a 257th label, before writing anything", async () => {
      const refuse = async (req: { labels: Record<string, string>; updateMask: string[] }) =>
        rejection(labels.updateTag("library/alpine", "3.19", req));
      const invalid = { kind: "invalid_argument", reason: "INVALID_LABEL" };
      expect(await refuse({ labels: {}, updateMask: ["name"] })).toMatchObject(invalid);
      expect(await refuse({ labels: {}, updateMask: ["labels."] })).toMatchObject(invalid);
      expect(await refuse({ labels: { "": "x" }, updateMask: [] })).toMatchObject(invalid);
      expect(await refuse({ labels: { "a b": "x" }, updateMask: [] })).toMatchObject(invalid);
      expect(await refuse({ labels: { é: "x" }, updateMask: [] })).toMatchObject(invalid);
      expect(await refuse({ labels: { ["k".repeat(1025)]: "" }, updateMask: [] })).toMatchObject(invalid);
      expect(await refuse({ labels: { k: "v".repeat(4096) }, updateMask: [] })).toMatchObject(invalid);
      // UTF-8 bytes count: 2047 two-byte characters + a 3-byte key = 4097 bytes.
      expect(await refuse({ labels: { key: "é".repeat(2047) }, updateMask: [] })).toMatchObject(invalid);
      const many = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, "v"]));
      expect(await refuse({ labels: many, updateMask: [] })).toMatchObject(invalid);
      expect(await rowCount("tag_labels")).toBe(0);

      // At the limits: accepted.
      const edge = { ["k".repeat(1024)]: "v".repeat(4096 - 1024), "~!": "é".repeat(100) };
      expect(await labels.updateTag("library/alpine", "3.19", { labels: edge, updateMask: [] })).toEqual(edge);
      const full = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`k${i}`, "v"]));
      await labels.updateTag("library/alpine", "latest", { labels: full, updateMask: [] });
      // The limit holds for the result of a partial update too.
      expect(
        await rejection(
          labels.updateTag("library/alpine", "latest", { labels: { one: "more" }, updateMask: ["labels.one"] }),
        ),
      ).toMatchObject(invalid);
      expect(Object.keys(await tagLabels("library/alpine", "latest"))).toHaveLength(256);
    });

    it("says which object is missing", async () => {
      const req = { labels: { a: "b" }, updateMask: [] };
      expect(await rejection(labels.updateTag("no/such", "x", req))).toMatchObject({ reason: "REPOSITORY_NOT_FOUND" });
      expect(await rejection(labels.updateTag("library/alpine", "nope", req))).toMatchObject({
        reason: "TAG_NOT_FOUND",
      });
      expect(await rejection(labels.updateRepository("no/such", req))).toMatchObject({
        reason: "REPOSITORY_NOT_FOUND",
      });
      expect(await rejection(labels.updateTag("Bad Name", "x", req))).toMatchObject({ reason: "INVALID_NAME" });
    });
  });

  describe("lifetime", () => {
    beforeEach(async () => {
      await labels.updateTag("library/alpine", "3.19", { labels: { env: "prod" }, updateMask: [] });
      await labels.updateTag("library/alpine", "latest", { labels: { env: "dev" }, updateMask: [] });
      await labels.updateRepository("library/alpine", { labels: { owner: "ops" }, updateMask: [] });
    });

    it("tag labels survive incremental and full syncs, IndexTag and a retag (digest change)", async () => {
      await h.layout.pushManifest("library/alpine", "3.19", image(7));
      await runSync(h.sync);
      await runSync(h.sync, FULL);
      await h.writer.indexTag("library/alpine", "3.19");
      await h.layout.pushManifest("library/alpine", "3.19", image(8));
      await h.writer.indexTag("library/alpine", "3.19");
      await runSync(h.sync, FULL);
      expect(await tagLabels("library/alpine", "3.19")).toEqual({ env: "prod" });
      expect(await tagLabels("library/alpine", "latest")).toEqual({ env: "dev" });
      expect(await readLabels(h.db, "repository", [1, "library/alpine"])).toEqual({ owner: "ops" });
    });

    it("go with the tag: DeleteTag, or a sync that no longer finds it; a tag pushed again starts bare", async () => {
      await h.writer.deleteTag("library/alpine", "3.19");
      await h.layout.updateCatalog((doc, now) => removeCatalogTag(doc, "library/alpine", "latest", now));
      await runSync(h.sync);
      expect(await rowCount("tag_labels")).toBe(0);
      await h.layout.pushManifest("library/alpine", "3.19", image(9));
      await h.writer.indexTag("library/alpine", "3.19");
      expect(await tagLabels("library/alpine", "3.19")).toEqual({});
    });

    it("repository labels go with the repository (its last tag removed)", async () => {
      const tags = (await h.db.ds.query(
        "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = 'library/alpine'",
      )) as Array<{ name: string }>;
      for (const { name } of tags) await h.writer.deleteTag("library/alpine", name);
      expect(await rowCount("repository_labels")).toBe(0);
      expect(await rowCount("tag_labels")).toBe(0);
    });
  });
});
