/**
 * The read side against real databases (SQLite and MariaDB): every order_by paginated with
 * inserts and deletes between pages, page-size rules, tokens bound to their query, not-found
 * cases, byte-wise names, and the statements each read sends.
 */
import { QueryFailedError } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import { EpochError, type ErrorKind, type ErrorReason } from "../../../../src/errors.js";
import {
  REPOSITORY_ORDERS,
  TAG_ORDERS,
  type RepositoryOrder,
  type TagOrder,
} from "../../../../src/services/queries/list-options.js";
import {
  MetadataQueries,
  type BlobRecord,
  type RepositoryRecord,
  type TagRecord,
} from "../../../../src/services/queries/metadata-queries.js";
import { blobPageSql } from "../../../../src/db/queries/blob-queries.js";
import type { SqlFragment } from "../../../../src/db/queries/keyset.js";
import { repositoryPageSql } from "../../../../src/db/queries/repository-queries.js";
import { tagPageSql } from "../../../../src/db/queries/tag-queries.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { fakeDigest, IndexSeeder, type SeedTag } from "../../../helpers/seed-index.js";
import { StatementCounter } from "../../../helpers/statement-counter.js";

const T0 = Date.UTC(2024, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);

/** Byte-wise, as the database compares names (utf8mb4_bin / BINARY); our names are ASCII. */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const TAG_ORDER_COMPARE: Record<TagOrder, (a: TagRecord, b: TagRecord) => number> = {
  name: (a, b) => byName(a.name, b.name),
  "name desc": (a, b) => byName(b.name, a.name),
  "push_time desc": (a, b) => b.pushedAt.getTime() - a.pushedAt.getTime() || byName(b.name, a.name),
  "total_size desc": (a, b) => b.totalSize - a.totalSize || byName(b.name, a.name),
};
const REPOSITORY_ORDER_COMPARE: Record<RepositoryOrder, (a: RepositoryRecord, b: RepositoryRecord) => number> = {
  name: (a, b) => byName(a.name, b.name),
  "update_time desc": (a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || byName(b.name, a.name),
  "total_size desc": (a, b) => b.totalSize - a.totalSize || byName(b.name, a.name),
};

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function failure(promise: Promise<unknown>): Promise<EpochError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(EpochError);
    return e as EpochError;
  }
  throw new Error("expected the call to fail");
}

async function expectFailure(promise: Promise<unknown>, kind: ErrorKind, reason: ErrorReason): Promise<void> {
  const e = await failure(promise);
  expect([e.kind, e.reason, e.message]).toEqual([kind, reason, e.message]);
}

const list = (over: Partial<{ pageSize: number; pageToken: string; filter: string[]; orderBy: string }> = {}) => ({
  pageSize: 0,
  pageToken: "",
  filter: [],
  orderBy: "",
  ...over,
});

/** Keys drawn from small sets, so ties on push time and size are common. */
function pagingTag(name: string, rnd: () => number): SeedTag {
  return { name, pushedAt: at(Math.floor(rnd() * 9)), totalSize: Math.floor(rnd() * 6) * 100 };
}

forEachDialect("metadata queries", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let seed: IndexSeeder;
  let queries: MetadataQueries;
  const counter = new StatementCounter();

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect, { logger: counter }));
    seed = await new IndexSeeder(db).init();
    queries = new MetadataQueries(db);
    await seed.repository("library/app", {
      tagCount: 4,
      totalSize: 4321,
      kind: "IMAGE_INDEX",
      artifactType: "",
      createdAt: at(0),
      updatedAt: at(50),
    });
    await seed.tags("library/app", [
      { name: "latest", totalSize: 100, pushedAt: at(10), json: '{"which":"lower"}' },
      { name: "Latest", totalSize: 200, pushedAt: at(20), json: '{"which":"upper"}' },
      { name: "v1", totalSize: 300, pushedAt: at(30), incomplete: true, syncedAt: at(40) },
      {
        name: "multi",
        kind: "IMAGE_INDEX",
        mediaType: "application/vnd.oci.image.index.v1+json",
        totalSize: 4000,
        layerCount: 2,
        pushedAt: at(5),
        json: '{"schemaVersion":2,"manifests":[]}',
        platformSizes: [
          { digest: fakeDigest("arm64"), size: 1500, layerCount: 3, os: "linux", architecture: "arm64", variant: "v8" },
          { digest: fakeDigest("amd64"), size: 2500, layerCount: 4, os: "linux", architecture: "amd64" },
        ],
      },
    ]);
    await seed.tags(
      "big",
      Array.from({ length: 1005 }, (_, i) => ({ name: `t${String(i).padStart(4, "0")}` })),
    );
  });
  afterAll(async () => {
    await cleanup?.();
  });

  describe("GetRepository / GetTag", () => {
    it("reads a repository's maintained fields", async () => {
      expect(await queries.getRepository("library/app")).toEqual({
        name: "library/app",
        tagCount: 4,
        totalSize: 4321,
        artifactType: "",
        kind: "IMAGE_INDEX",
        createdAt: at(0),
        updatedAt: at(50),
        labels: {},
      });
    });

    it("reads a tag with its manifest bytes and per-platform sizes", async () => {
      const tag = await queries.getTag("library/app", "multi");
      expect(tag).toEqual({
        repository: "library/app",
        name: "multi",
        digest: fakeDigest("library/app", "multi"),
        mediaType: "application/vnd.oci.image.index.v1+json",
        artifactType: "",
        kind: "IMAGE_INDEX",
        totalSize: 4000,
        layerCount: 2,
        platformSizes: [
          { digest: fakeDigest("arm64"), size: 1500, layerCount: 3, os: "linux", architecture: "arm64", variant: "v8" },
          { digest: fakeDigest("amd64"), size: 2500, layerCount: 4, os: "linux", architecture: "amd64" },
        ],
        manifestJson: '{"schemaVersion":2,"manifests":[]}',
        pushedAt: at(5),
        indexedAt: new Date(T0),
        syncedAt: null,
        incomplete: false,
        labels: {},
      });
      const v1 = await queries.getTag("library/app", "v1");
      expect([v1.incomplete, v1.syncedAt, v1.platformSizes]).toEqual([true, at(40), []]);
    });

    it("keeps latest and Latest apart (byte-wise names)", async () => {
      expect((await queries.getTag("library/app", "latest")).manifestJson).toBe('{"which":"lower"}');
      expect((await queries.getTag("library/app", "Latest")).manifestJson).toBe('{"which":"upper"}');
      await expectFailure(queries.getTag("library/app", "LATEST"), "not_found", "TAG_NOT_FOUND");
      await expectFailure(queries.getRepository("Library/App"), "invalid_argument", "INVALID_NAME");
      const page = await queries.listTags("library/app", list());
      expect(page.items.map((t) => t.name)).toEqual(["Latest", "latest", "multi", "v1"]);
    });

    it("answers NOT_FOUND with the reason that names what is missing", async () => {
      await expectFailure(queries.getRepository("library/none"), "not_found", "REPOSITORY_NOT_FOUND");
      await expectFailure(queries.getTag("library/none", "latest"), "not_found", "REPOSITORY_NOT_FOUND");
      await expectFailure(queries.getTag("library/app", "v2"), "not_found", "TAG_NOT_FOUND");
      await expectFailure(queries.listTags("library/none", list()), "not_found", "REPOSITORY_NOT_FOUND");
    });

    it("rejects invalid names before sending any statement", async () => {
      await queries.getStats(); // the namespace id is cached from here on
      counter.reset();
      await expectFailure(queries.getRepository(""), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.getRepository("a".repeat(256)), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.getRepository("UPPER"), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.getTag("library/app", ".hidden"), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.getTag("library/app", "x".repeat(129)), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.getTag("../etc", "latest"), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.listTags("library//app", list()), "invalid_argument", "INVALID_NAME");
      await expectFailure(queries.getBlob("sha256:ABC"), "invalid_argument", "INVALID_DIGEST");
      await expectFailure(queries.getBlob(`sha256:${"A".repeat(64)}`), "invalid_argument", "INVALID_DIGEST");
      await expectFailure(
        queries.listTags("library/app", list({ pageSize: -1 })),
        "invalid_argument",
        "INVALID_PAGE_SIZE",
      );
      await expectFailure(
        queries.listTags("library/app", list({ orderBy: "digest" })),
        "invalid_argument",
        "INVALID_ORDER_BY",
      );
      await expectFailure(
        queries.listRepositories(list({ orderBy: "name desc" })),
        "invalid_argument",
        "INVALID_ORDER_BY",
      );
      await expectFailure(
        queries.listTags("library/app", list({ pageToken: "garbage!" })),
        "invalid_argument",
        "INVALID_PAGE_TOKEN",
      );
      await expectFailure(
        queries.listTags("library/app", list({ filter: ["size==1"] })),
        "invalid_argument",
        "INVALID_FILTER",
      );
      await expectFailure(
        queries.listTags("library/app", list({ filter: ["name~=(a"] })),
        "invalid_argument",
        "INVALID_FILTER",
      );
      await expectFailure(
        queries.listRepositories(list({ filter: ["digest==x"] })),
        "invalid_argument",
        "INVALID_FILTER",
      );
      await expectFailure(
        queries.listTags("library/app", list({ filter: ['labels."a team"==a'] })),
        "invalid_argument",
        "INVALID_FILTER",
      );
      expect(counter.statements).toEqual([]);
    });
  });

  describe("ListTags", () => {
    it("reads each page, its tags' labels included, in one statement, never selecting manifest bytes", async () => {
      counter.reset();
      const page = await queries.listTags("library/app", list({ orderBy: "push_time desc" }));
      expect(page.items.map((t) => t.name)).toEqual(["v1", "Latest", "latest", "multi"]);
      expect(page.items.every((t) => t.manifestJson === undefined)).toBe(true);
      expect(page.items[3]!.platformSizes).toHaveLength(2);
      expect(page.nextPageToken).toBe("");
      expect(counter.statements).toHaveLength(1);
      expect(counter.statements[0]).not.toMatch(/\bjson\b/);
      expect(counter.statements[0]).not.toMatch(/\bOFFSET\b/i);
      expect(counter.statements[0]).toMatch(
        /FROM tag_labels l WHERE l.repository_id = t.repository_id AND l.tag_name = t.name/,
      );
    });

    it("uses 100 for page_size 0 and clamps page_size above 1000", async () => {
      const first = await queries.listTags("big", list());
      expect(first.items).toHaveLength(100);
      expect(first.items[0]!.name).toBe("t0000");
      const clamped = await queries.listTags("big", list({ pageSize: 5000 }));
      expect(clamped.items).toHaveLength(1000);
      expect(clamped.items[999]!.name).toBe("t0999");
      const rest = await queries.listTags("big", list({ pageSize: 5000, pageToken: clamped.nextPageToken }));
      expect(rest.items.map((t) => t.name)).toEqual(["t1000", "t1001", "t1002", "t1003", "t1004"]);
      expect(rest.nextPageToken).toBe("");
      // page_size may change between pages (AIP-158); the token stays valid.
      const small = await queries.listTags("big", list({ pageSize: 2, pageToken: first.nextPageToken }));
      expect(small.items.map((t) => t.name)).toEqual(["t0100", "t0101"]);
    });

    it("binds a page token to its repository, order_by and list", async () => {
      const page = await queries.listTags("big", list({ pageSize: 3 }));
      expect(page.nextPageToken).not.toBe("");
      const reuse = [
        queries.listTags("library/app", list({ pageToken: page.nextPageToken })),
        queries.listTags("big", list({ pageToken: page.nextPageToken, orderBy: "name desc" })),
        queries.listTags("big", list({ pageToken: page.nextPageToken, orderBy: "push_time desc" })),
        queries.listRepositories(list({ pageToken: page.nextPageToken })),
        queries.listBlobs(list({ pageToken: page.nextPageToken })),
      ];
      for (const attempt of reuse) await expectFailure(attempt, "invalid_argument", "INVALID_PAGE_TOKEN");
      // Equivalent spellings of the same order_by are the same query.
      const same = await queries.listTags(
        "big",
        list({ pageSize: 3, pageToken: page.nextPageToken, orderBy: " name  asc " }),
      );
      expect(same.items.map((t) => t.name)).toEqual(["t0003", "t0004", "t0005"]);
    });

    for (const order of TAG_ORDERS) {
      it(`paginates "${order}" with inserts and deletes between pages, never skipping or repeating a row`, async () => {
        const rnd = random(order.length * 7919);
        const repository = `paging/${order.replace(" ", "-")}`;
        // Names mix cases so byte order matters; keys repeat so ties are broken by name.
        const initial = Array.from({ length: 45 }, (_, i) =>
          pagingTag(`${i % 4 === 0 ? "T" : "t"}${String(i).padStart(2, "0")}`, rnd),
        );
        await seed.tags(repository, initial);
        const deleted = new Set<string>();
        const seen: TagRecord[] = [];
        let token = "";
        let pages = 0;
        do {
          const page = await queries.listTags(repository, list({ pageSize: 7, pageToken: token, orderBy: order }));
          seen.push(...page.items);
          token = page.nextPageToken;
          pages++;
          // New rows on both sides of the cursor (some with keys equal to existing ones)...
          await seed.tags(
            repository,
            [0, 1, 2].map((k) => pagingTag(`n${pages}-${k}`, rnd)),
          );
          // ...one row not read yet deleted, and on every third page the row the token points at.
          const last = pages % 3 === 0 ? page.items[page.items.length - 1] : undefined;
          const ahead = initial.find((t) => !deleted.has(t.name) && !seen.some((s) => s.name === t.name));
          for (const name of [last?.name, ahead?.name].filter((n): n is string => n !== undefined)) {
            await db.ds.query(
              "DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?",
              [repository, name],
            );
            deleted.add(name);
          }
        } while (token !== "" && pages < 100);

        const names = seen.map((t) => t.name);
        expect(new Set(names).size).toBe(names.length); // no duplicates
        // Every row that existed before the first page and was not deleted before being reached:
        const expected = initial
          .map((t) => ({ name: t.name, pushedAt: t.pushedAt!, totalSize: t.totalSize! }) as TagRecord)
          .filter((t) => names.includes(t.name) || !deleted.has(t.name))
          .sort(TAG_ORDER_COMPARE[order])
          .map((t) => t.name);
        expect(names.filter((n) => !n.startsWith("n"))).toEqual(expected);
        // Whatever was returned (inserted rows included) is in order.
        for (let i = 1; i < seen.length; i++) expect(TAG_ORDER_COMPARE[order](seen[i - 1]!, seen[i]!)).toBeLessThan(0);
        expect(pages).toBeGreaterThan(6);
      });
    }
  });

  describe("filters", () => {
    const OS = "application/vnd.cocoonstack.os-image.v1+json";
    const kinds = ["CONTAINER_IMAGE", "SNAPSHOT", "CLOUD_IMAGE", "IMAGE_INDEX"];
    const names = [
      ...Array.from({ length: 12 }, (_, i) => `v1.${i}`),
      ...Array.from({ length: 8 }, (_, i) => `v2.${i}`),
      ...Array.from({ length: 6 }, (_, i) => `release-${i}-rc${i % 3}`),
      "latest",
      "Latest",
      "stable",
      "v1x0",
    ];
    const seeded: Array<SeedTag & { kind: string; artifactType: string }> = names.map((name, i) => ({
      name,
      kind: kinds[i % 4]!,
      artifactType: kinds[i % 4] === "CLOUD_IMAGE" ? OS : "",
      mediaType:
        kinds[i % 4] === "IMAGE_INDEX"
          ? "application/vnd.oci.image.index.v1+json"
          : "application/vnd.oci.image.manifest.v1+json",
      pushedAt: at(i % 5),
      totalSize: (i % 4) * 10,
    }));
    type Seeded = (typeof seeded)[number];
    // Each filter beside the same selection written independently in JS.
    const CASES: Array<[string[], (t: Seeded) => boolean]> = [
      [["kind==SNAPSHOT"], (t) => t.kind === "SNAPSHOT"],
      [["kind==ARTIFACT_KIND_CLOUD_IMAGE"], (t) => t.kind === "CLOUD_IMAGE"],
      [["kind==snapshot"], () => false], // byte-wise, even on MariaDB's case-insensitive columns
      [["kind!=CONTAINER_IMAGE,artifact_type"], (t) => t.kind !== "CONTAINER_IMAGE" && t.artifactType !== ""],
      [["name==latest", "name==stable"], (t) => t.name === "latest" || t.name === "stable"],
      [["name~=^v1\\."], (t) => /^v1\./.test(t.name)],
      [["name~=rc[0-2]$,kind!=SNAPSHOT"], (t) => /rc[0-2]$/.test(t.name) && t.kind !== "SNAPSHOT"],
      [["name~=(?i)^latest$"], (t) => t.name.toLowerCase() === "latest"],
      [
        ["media_type~=index", "name~=/^v2\\.[0-3]$/"],
        (t) => t.mediaType!.includes("index") || /^v2\.[0-3]$/.test(t.name),
      ],
      [["digest==" + fakeDigest("filter/app", "stable")], (t) => t.name === "stable"],
    ];

    beforeAll(async () => {
      await seed.tags("filter/app", seeded);
    });

    for (const order of TAG_ORDERS) {
      it(`ListTags "${order}": every filter, paginated, selects exactly the matching tags`, async () => {
        const reference = seeded.map(
          (t) => ({ ...t, pushedAt: t.pushedAt!, totalSize: t.totalSize! }) as unknown as TagRecord,
        );
        for (const [filter, want] of CASES) {
          const expected = seeded
            .filter(want)
            .map((t) => reference.find((r) => r.name === t.name)!)
            .sort(TAG_ORDER_COMPARE[order])
            .map((t) => t.name);
          const got: string[] = [];
          let token = "";
          let pages = 0;
          do {
            const page = await queries.listTags(
              "filter/app",
              list({ pageSize: 3, pageToken: token, orderBy: order, filter }),
            );
            expect(page.items.length).toBeLessThanOrEqual(3);
            got.push(...page.items.map((t) => t.name));
            token = page.nextPageToken;
          } while (token !== "" && ++pages < 50);
          expect(got, JSON.stringify(filter)).toEqual(expected);
        }
      });
    }

    it("binds page tokens to the filter (equivalent spellings are the same filter)", async () => {
      const page = await queries.listTags("filter/app", list({ pageSize: 2, filter: ["name~=^v1"] }));
      expect(page.nextPageToken).not.toBe("");
      await expectFailure(
        queries.listTags("filter/app", list({ pageToken: page.nextPageToken, filter: ["name~=^v2"] })),
        "invalid_argument",
        "INVALID_PAGE_TOKEN",
      );
      await expectFailure(
        queries.listTags("filter/app", list({ pageToken: page.nextPageToken })),
        "invalid_argument",
        "INVALID_PAGE_TOKEN",
      );
      const next = await queries.listTags(
        "filter/app",
        list({ pageSize: 2, pageToken: page.nextPageToken, filter: [' name ~= "^v1" '] }),
      );
      expect(next.items.map((t) => t.name)).toEqual(["v1.10", "v1.11"]);
    });

    it("ListRepositories and ListBlobs filter too", async () => {
      await seed.repository("filter/os", { kind: "CLOUD_IMAGE", artifactType: OS });
      const repos = await queries.listRepositories(list({ filter: ["kind==CLOUD_IMAGE"] }));
      expect(repos.items.map((r) => r.name)).toEqual(["filter/os"]);
      const prefixed = await queries.listRepositories(list({ filter: ["name~=^filter/"] }));
      expect(prefixed.items.map((r) => r.name)).toEqual(["filter/app", "filter/os"]);
      await seed.blobs([
        { digest: fakeDigest("gz"), size: 1, refCount: 1, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" },
        { digest: fakeDigest("zst"), size: 1, refCount: 1, mediaType: "application/vnd.oci.image.layer.v1.tar+zstd" },
        {
          digest: fakeDigest("gz-unref"),
          size: 1,
          refCount: 0,
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        },
      ]);
      const blobs = await queries.listBlobs(list({ filter: ["media_type~=gzip$"] }));
      expect(blobs.items.map((b) => b.digest)).toEqual([fakeDigest("gz")]);
      // Unreferenced blobs only when the filter asks about ref_count (DESIGN §8.4).
      const unreferenced = await queries.listBlobs(list({ filter: ["media_type~=gzip$,ref_count==0"] }));
      expect(unreferenced.items.map((b) => b.digest)).toEqual([fakeDigest("gz-unref")]);
      const either = await queries.listBlobs(list({ filter: ["ref_count==0", "media_type~=zstd$"] }));
      expect(either.items.map((b) => b.digest).sort()).toEqual([fakeDigest("gz-unref"), fakeDigest("zst")].sort());
    });
  });

  describe("ListRepositories", () => {
    for (const order of REPOSITORY_ORDERS) {
      it(`paginates "${order}" with inserts between pages, never skipping or repeating a row`, async () => {
        const rnd = random(order.length * 104729);
        const prefix = `r-${order.replace(" ", "-")}`;
        const make = async (name: string) => {
          const fields = { updatedAt: at(Math.floor(rnd() * 7)), totalSize: Math.floor(rnd() * 5) * 10 };
          await seed.repository(name, fields);
          return { name, ...fields };
        };
        const initial: Array<{ name: string; updatedAt: Date; totalSize: number }> = [];
        for (let i = 0; i < 30; i++) initial.push(await make(`${prefix}/a${String(i).padStart(2, "0")}`));
        const seen: RepositoryRecord[] = [];
        let token = "";
        let pages = 0;
        do {
          const page = await queries.listRepositories(list({ pageSize: 6, pageToken: token, orderBy: order }));
          seen.push(...page.items);
          token = page.nextPageToken;
          pages++;
          for (let k = 0; k < 2; k++) await make(`${prefix}/n${pages}-${k}`);
        } while (token !== "" && pages < 200);

        const names = seen.map((r) => r.name);
        expect(new Set(names).size).toBe(names.length);
        const expected = initial
          .map((r) => r as RepositoryRecord)
          .sort(REPOSITORY_ORDER_COMPARE[order])
          .map((r) => r.name);
        expect(names.filter((n) => n.startsWith(`${prefix}/a`))).toEqual(expected);
        for (let i = 1; i < seen.length; i++)
          expect(REPOSITORY_ORDER_COMPARE[order](seen[i - 1]!, seen[i]!)).toBeLessThan(0);
      });
    }
  });

  describe("query plans: every list order is one index range, never a sort", () => {
    const TAG_INDEX: Record<TagOrder, string> = {
      name: "uq_tags_repository_name",
      "name desc": "uq_tags_repository_name",
      "push_time desc": "ix_tags_push_time",
      "total_size desc": "ix_tags_total_size",
    };
    const REPOSITORY_INDEX: Record<RepositoryOrder, string> = {
      name: "uq_repositories_namespace_name",
      "update_time desc": "ix_repositories_update_time",
      "total_size desc": "ix_repositories_total_size",
    };

    /**
     * How the plan reads `alias`: the index, whether anything is sorted or put in a temporary
     * table, and whether the keyset bound is an exact range — SQLite shows it in the SEARCH
     * line; MariaDB's ANALYZE shows the rows actually read (at most LIMIT + 1 when exact).
     */
    async function plan(
      q: SqlFragment,
      alias: string,
      boundColumns: number,
    ): Promise<{ index: string; sorts: boolean; exact: boolean }> {
      if (dialect === "sqlite") {
        const rows: Array<{ detail: string }> = await db.ds.query(`EXPLAIN QUERY PLAN ${q.sql}`, q.params);
        const line = rows.map((r) => r.detail).find((d) => d.startsWith(`SEARCH ${alias} `)) ?? "";
        const bound = boundColumns === 2 ? /\(\w+,\w+\)[<>]\(\?,\?\)/ : /\w[<>]\?/;
        return {
          index: /USING (?:COVERING )?INDEX (\S+)/.exec(line)?.[1] ?? line,
          sorts: rows.some((r) => /TEMP B-TREE/.test(r.detail)),
          exact: boundColumns === 0 || bound.test(line),
        };
      }
      const rows: Array<{ table: string; key: string | null; Extra: string | null; r_rows: number | null }> =
        await db.ds.query(`ANALYZE ${q.sql}`, q.params);
      const row = rows.find((r) => r.table === alias);
      return {
        index: row?.key ?? "none",
        sorts: rows.some((r) => /filesort|temporary/i.test(r.Extra ?? "")),
        exact: Number(row?.r_rows ?? Infinity) <= 101,
      };
    }

    it("ListTags", async () => {
      if (dialect !== "sqlite") await db.ds.query("ANALYZE TABLE tags, manifests, repositories");
      for (const order of TAG_ORDERS) {
        const after =
          order === "name" || order === "name desc"
            ? ["t0500"]
            : order === "push_time desc"
              ? ["2024-01-01 00:00:00.000", "t0500"]
              : [0, "t0500"];
        for (const q of [{}, { after }] as Array<{ after?: Array<string | number> }>) {
          const sql = tagPageSql(dialect, { namespaceId: 1, repository: "big", order, limit: 100, ...q });
          expect(await plan(sql, "t", q.after?.length ?? 0), `${order} ${JSON.stringify(q)}`).toEqual({
            index: TAG_INDEX[order],
            sorts: false,
            exact: true,
          });
        }
      }
    });

    it("ListRepositories and ListBlobs", async () => {
      if (dialect !== "sqlite") await db.ds.query("ANALYZE TABLE repositories, blobs");
      for (const order of REPOSITORY_ORDERS) {
        const after =
          order === "name" ? ["m"] : order === "update_time desc" ? ["2024-01-01 00:00:03.000", "m"] : [10, "m"];
        for (const q of [{}, { after }] as Array<{ after?: Array<string | number> }>) {
          const sql = repositoryPageSql(dialect, { namespaceId: 1, order, limit: 100, ...q });
          expect(await plan(sql, "r", q.after?.length ?? 0), `${order} ${JSON.stringify(q)}`).toEqual({
            index: REPOSITORY_INDEX[order],
            sorts: false,
            exact: true,
          });
        }
      }
      const blobIndex = dialect === "sqlite" ? "sqlite_autoindex_blobs_1" : "PRIMARY";
      for (const q of [{}, { after: [`sha256:${"0".repeat(64)}`] }] as Array<{ after?: string[] }>) {
        expect(
          await plan(blobPageSql(dialect, { namespaceId: 1, limit: 100, ...q }), "b", q.after?.length ?? 0),
        ).toEqual({ index: blobIndex, sorts: false, exact: true });
      }
    });
  });

  describe("query plans of a token bound to some repositories", () => {
    const bound = [
      [{ field: "name", op: "glob", value: "library/*" } as const],
      [{ field: "name", op: "glob", value: "team/*/api" } as const],
    ];

    it("ListRepositories keeps each order's index and never sorts", async () => {
      if (dialect !== "sqlite") await db.ds.query("ANALYZE TABLE repositories");
      for (const order of REPOSITORY_ORDERS) {
        const rows = await explain(repositoryPageSql(dialect, { namespaceId: 1, order, limit: 100, bound }));
        expect(rows.sorts, order).toBe(false);
        expect(rows.indexOf("r"), order).toBe(
          {
            name: "uq_repositories_namespace_name",
            "update_time desc": "ix_repositories_update_time",
            "total_size desc": "ix_repositories_total_size",
          }[order],
        );
      }
    });

    it("ListBlobs walks the blobs' primary key and probes each blob's references by index", async () => {
      if (dialect !== "sqlite") await db.ds.query("ANALYZE TABLE blobs, manifest_blobs, tags, repositories");
      for (const after of [undefined, [`sha256:${"0".repeat(64)}`]]) {
        const rows = await explain(
          blobPageSql(dialect, { namespaceId: 1, limit: 100, bound, ...(after && { after }) }),
        );
        expect(rows.sorts).toBe(false);
        expect(rows.indexOf("b")).toBe(dialect === "sqlite" ? "sqlite_autoindex_blobs_1" : "PRIMARY");
        expect(rows.indexOf("mb")).toBe("ix_manifest_blobs_blob");
        expect(rows.indexOf("t")).toBe("ix_tags_manifest");
        expect(rows.indexOf("r")).toMatch(/^(PRIMARY|INTEGER PRIMARY KEY)$/);
      }
    });

    /** The index each table alias is read by, and whether anything is sorted or put in a temporary table. */
    async function explain(q: SqlFragment): Promise<{ sorts: boolean; indexOf(alias: string): string }> {
      if (dialect === "sqlite") {
        const rows: Array<{ detail: string }> = await db.ds.query(`EXPLAIN QUERY PLAN ${q.sql}`, q.params);
        return {
          sorts: rows.some((r) => /TEMP B-TREE/.test(r.detail)),
          indexOf: (alias) => {
            const line = rows.map((r) => r.detail).find((d) => new RegExp(`^(SEARCH|SCAN) ${alias}\\b`).test(d)) ?? "";
            return (
              /USING (?:COVERING )?(INDEX (\S+)|INTEGER PRIMARY KEY)/.exec(line)?.[2] ??
              (/INTEGER PRIMARY KEY/.test(line) ? "INTEGER PRIMARY KEY" : line)
            );
          },
        };
      }
      // A statement-level optimizer switch (SET STATEMENT … FOR SELECT) stays in front of EXPLAIN.
      const explained = /^SET STATEMENT /.test(q.sql)
        ? q.sql.replace(/ FOR SELECT\b/, " FOR EXPLAIN SELECT")
        : `EXPLAIN ${q.sql}`;
      const rows: Array<{ table: string; key: string | null; Extra: string | null }> = await db.ds.query(
        explained,
        q.params,
      );
      return {
        sorts: rows.some((r) => /filesort|temporary/i.test(r.Extra ?? "")),
        indexOf: (alias) => rows.find((r) => r.table === alias)?.key ?? "none",
      };
    }
  });

  describe("GetStats", () => {
    it("answers zeros before the stats row exists", async () => {
      expect(await queries.getStats()).toEqual({
        repositoryCount: 0,
        tagCount: 0,
        blobCount: 0,
        totalSize: 0,
        lastSyncAt: null,
        kinds: [],
      });
    });

    it("reads the maintained row in one statement, never a scan", async () => {
      await seed.stats({
        repositoryCount: 3,
        tagCount: 1234,
        blobCount: 77,
        totalSize: 2 ** 40,
        kinds: { UNKNOWN: 4, CONTAINER_IMAGE: 1200, SNAPSHOT: 0, IMAGE_INDEX: 30 },
        lastSyncAt: at(99),
      });
      counter.reset();
      expect(await queries.getStats()).toEqual({
        repositoryCount: 3,
        tagCount: 1234,
        blobCount: 77,
        totalSize: 2 ** 40,
        lastSyncAt: at(99),
        kinds: [
          { kind: "CONTAINER_IMAGE", tagCount: 1200 },
          { kind: "IMAGE_INDEX", tagCount: 30 },
          { kind: "UNKNOWN", tagCount: 4 },
        ],
      });
      expect(counter.statements).toHaveLength(1);
      expect(counter.statements[0]).toMatch(/FROM registry_stats s\s+WHERE s\.namespace_id = \?/);
      expect(counter.statements[0]).not.toMatch(/COUNT\(|SUM\(|\bJOIN\b|FROM (tags|blobs|repositories)\b/i);
    });
  });

  describe("ListBlobs / GetBlob", () => {
    const blob = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;

    it("lists referenced blobs only, by digest, across inserts", async () => {
      await seed.blobs(
        Array.from({ length: 20 }, (_, i) => ({
          digest: blob(i * 10),
          size: i * 1000,
          refCount: i % 5 === 0 ? 0 : i % 3,
        })),
      );
      const seen: BlobRecord[] = [];
      let token = "";
      let pages = 0;
      do {
        const page = await queries.listBlobs(list({ pageSize: 4, pageToken: token }));
        seen.push(...page.items);
        token = page.nextPageToken;
        pages++;
        await seed.blobs([{ digest: blob(pages * 10 + 5), size: 1, refCount: 1 }]);
      } while (token !== "" && pages < 100);
      const digests = seen.map((b) => b.digest);
      expect(new Set(digests).size).toBe(digests.length);
      expect(seen.every((b) => b.refCount > 0)).toBe(true);
      const original = Array.from({ length: 20 }, (_, i) => i)
        .filter((i) => i % 5 !== 0 && i % 3 !== 0)
        .map((i) => blob(i * 10));
      const seeded = new Set(Array.from({ length: 20 }, (_, i) => blob(i * 10)));
      expect(digests.filter((d) => seeded.has(d))).toEqual(original);
      expect([...digests].sort()).toEqual(digests);
    });

    it("gets a referenced blob, an unreferenced one with ref_count 0; an unknown one is BLOB_NOT_FOUND", async () => {
      expect(await queries.getBlob(blob(10))).toEqual({
        digest: blob(10),
        size: 1000,
        mediaType: "application/octet-stream",
        refCount: 1,
      });
      // DESIGN §8.4: an unreferenced blob (e.g. a committed upload) is visible with ref_count 0.
      expect((await queries.getBlob(blob(0))).refCount).toBe(0);
      await expectFailure(queries.getBlob(blob(3)), "not_found", "BLOB_NOT_FOUND");
    });
  });

  describe("Database.read (the path every read above takes)", () => {
    it("logs each statement like ds.query and fails as a QueryFailedError carrying the driver's error", async () => {
      counter.reset();
      expect(await db.read<{ n: unknown }>("SELECT ? + 1 AS n", [41])).toEqual([{ n: 42 }]);
      expect(counter.statements).toEqual(["SELECT ? + 1 AS n"]);
      const failure = await db.read("SELECT nope FROM no_such_table").catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(QueryFailedError);
      expect((failure as QueryFailedError).driverError).toBeDefined();
      expect((failure as QueryFailedError).query).toBe("SELECT nope FROM no_such_table");
    });
  });
});
