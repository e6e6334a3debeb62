/**
 * Label filters on ListTags and ListRepositories against real databases (SQLite and MariaDB):
 * every operator (containerd semantics: an absent label reads as ""), combined with fields and
 * with OR, paginated with inserts between pages; and, on a 10k-tag repository, a label equality
 * reads the matching rows only (two statements a page; the plan walks the label index).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import type { SqlFragment } from "../../../../src/db/queries/keyset.js";
import { tagPageSql } from "../../../../src/db/queries/tag-queries.js";
import { MetadataLabels } from "../../../../src/services/labels/metadata-labels.js";
import { TAG_ORDERS } from "../../../../src/services/queries/list-options.js";
import { MetadataQueries, type TagRecord } from "../../../../src/services/queries/metadata-queries.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { IndexSeeder } from "../../../helpers/seed-index.js";
import { seedLabels } from "../../../helpers/seed-labels.js";
import { StatementCounter } from "../../../helpers/statement-counter.js";

const list = (over: Partial<{ pageSize: number; pageToken: string; filter: string[]; orderBy: string }> = {}) => ({
  pageSize: 0,
  pageToken: "",
  filter: [],
  orderBy: "",
  ...over,
});

/** Reads every page; returns the names in order and the number of pages. */
async function readAll<T extends { name: string }>(
  read: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
  between?: (page: number) => Promise<void>,
): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let token = "";
  let pages = 0;
  do {
    const page = await read(token);
    names.push(...page.items.map((t) => t.name));
    token = page.nextPageToken;
    pages++;
    if (token && between) await between(pages);
  } while (token);
  return { names, pages };
}

forEachDialect("label filters", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  const counter = new StatementCounter();
  let queries: MetadataQueries;
  let seed: IndexSeeder;

  /** small: 40 tags; t{i}: env = prod (i % 4 == 0), dev (i % 4 == 1), "" (i % 4 == 2), none (3); team on every 5th. */
  const SMALL = Array.from({ length: 40 }, (_, i) => `t${String(i).padStart(2, "0")}`);
  const smallLabels = (i: number): Record<string, string> => ({
    ...(i % 4 === 0 && { env: "prod" }),
    ...(i % 4 === 1 && { env: "dev" }),
    ...(i % 4 === 2 && { env: "" }),
    ...(i % 5 === 0 && { team: `team-${i % 3}` }),
  });
  let smallId: number;

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect, { logger: counter }));
    queries = new MetadataQueries(db);
    seed = await new IndexSeeder(db).init();
    await seed.tags(
      "small",
      SMALL.map((name, i) => ({ name, kind: i % 2 ? "SNAPSHOT" : "CONTAINER_IMAGE", totalSize: i })),
    );
    smallId = await seed.repository("small");
    await seedLabels(
      db,
      "tag",
      SMALL.map((name, i) => ({ owner: [smallId, name], labels: smallLabels(i) })),
    );
  }, 120_000);
  afterAll(async () => {
    await cleanup?.();
  });

  describe("every operator, alone and combined, paginated", () => {
    const containerd = (labels: Record<string, string>, key: string) =>
      Object.hasOwn(labels, key) ? labels[key] : undefined;
    const cases: Array<[string[], (i: number) => boolean]> = [
      [['labels."env"==prod'], (i) => containerd(smallLabels(i), "env") === "prod"],
      [['labels."env"!=prod'], (i) => (containerd(smallLabels(i), "env") ?? "") !== "prod"],
      [['labels."env"!=""'], (i) => (containerd(smallLabels(i), "env") ?? "") !== ""],
      [['labels."env"==""'], (i) => containerd(smallLabels(i), "env") === ""],
      [["labels.env"], (i) => containerd(smallLabels(i), "env") !== undefined],
      [['labels."env"~="^(pr|de)"'], (i) => /^(pr|de)/.test(smallLabels(i).env ?? "")],
      [['labels."env"~="^(dev)?$"'], (i) => /^(dev)?$/.test(smallLabels(i).env ?? "")],
      [['labels."env"==prod,kind==SNAPSHOT'], () => false],
      [['labels."env"==prod, labels.team'], (i) => smallLabels(i).env === "prod" && "team" in smallLabels(i)],
      [['labels."env"==dev', "labels.team"], (i) => smallLabels(i).env === "dev" || "team" in smallLabels(i)],
      [['labels."team"~="-1$", name~="^t[0-2]"'], (i) => smallLabels(i).team === "team-1" && i < 30],
      [
        ['labels."env"==prod, labels."team"!=team-0'],
        (i) => smallLabels(i).env === "prod" && smallLabels(i).team !== "team-0",
      ],
      [['labels."nope"==x'], () => false],
    ];
    for (const [filter, expected] of cases) {
      it(`${JSON.stringify(filter)} in every order`, async () => {
        const want = SMALL.filter((_, i) => expected(i));
        for (const orderBy of TAG_ORDERS) {
          const { names, pages } = await readAll((pageToken) =>
            queries.listTags("small", list({ filter, orderBy, pageSize: 3, pageToken })),
          );
          expect([...names].sort(), orderBy).toEqual(want);
          if (orderBy === "name") expect(names).toEqual(want);
          if (orderBy === "name desc") expect(names).toEqual([...want].reverse());
          expect(pages).toBeGreaterThanOrEqual(Math.ceil(want.length / 3));
        }
      });
    }

    it("returns every tag's labels, sorted by key, in the page's own statement", async () => {
      counter.reset();
      const page = await queries.listTags("small", list({ pageSize: 10 }));
      expect(page.items.map((t) => t.labels)).toEqual(SMALL.slice(0, 10).map((_, i) => smallLabels(i)));
      expect(page.items.map((t) => Object.keys(t.labels))).toEqual(page.items.map((t) => Object.keys(t.labels).sort()));
      expect(counter.count).toBe(1);
      expect(counter.statements[0]).toMatch(/FROM tag_labels l WHERE l.repository_id = t.repository_id/);
      expect((await queries.getTag("small", "t00")).labels).toEqual({ env: "prod", team: "team-0" });
    });
  });

  it("paginates a label filter with inserts between pages: every tag present throughout appears once, in order", async () => {
    const names = Array.from({ length: 30 }, (_, i) => `p${String(i * 10).padStart(3, "0")}`);
    await seed.tags(
      "paged",
      names.map((name) => ({ name })),
    );
    const id = await seed.repository("paged");
    await seedLabels(
      db,
      "tag",
      names.map((name, i) => ({ owner: [id, name], labels: { env: i % 2 ? "prod" : "dev" } })),
    );
    const labels = new MetadataLabels(db);
    let n = 0;
    const { names: seen } = await readAll(
      (pageToken) => queries.listTags("paged", list({ filter: ['labels."env"==prod'], pageSize: 4, pageToken })),
      async () => {
        // One new matching tag before the cursor (never seen), one after it (seen), one relabelled away.
        const before = `p${String(n).padStart(3, "0")}a`;
        const after = `p${String(280 - n).padStart(3, "0")}a`;
        n++;
        await seed.tags("paged", [{ name: before }, { name: after }]);
        await seedLabels(
          db,
          "tag",
          [before, after].map((name) => ({ owner: [id, name], labels: { env: "prod" } })),
        );
        await labels.updateTag("paged", `p${String(290 - 20 * n + 10).padStart(3, "0")}`, {
          labels: {},
          updateMask: [],
        });
      },
    );
    expect(seen).toEqual([...new Set(seen)].sort());
    const rows: Array<{ tag_name: string }> = await db.ds.query(
      "SELECT tag_name FROM tag_labels WHERE repository_id = ? AND label_key = 'env' AND label_value = 'prod' ORDER BY tag_name",
      [id],
    );
    const stillMatching = new Set(rows.map((r) => r.tag_name));
    // Tags that matched from the first page to the last were all returned.
    for (const name of names.filter((_, i) => i % 2 === 1 && stillMatching.has(`p${String(i * 10).padStart(3, "0")}`)))
      expect(seen).toContain(name);
    expect(seen.filter((s) => s.endsWith("a")).length).toBeGreaterThan(0);
  });

  describe("a label equality on a 10k-tag repository reads only the matching rows", () => {
    const BIG = Array.from({ length: 10_000 }, (_, i) => `b${String(i).padStart(5, "0")}`);
    /** 1 % prod (every 100th), the rest spread over other values and keys. */
    const bigLabels = (i: number): Record<string, string> =>
      i % 100 === 7 ? { env: "prod", n: String(i) } : { env: i % 2 ? "dev" : "test", n: String(i) };
    const PROD = BIG.filter((_, i) => i % 100 === 7);
    let bigId: number;

    beforeAll(async () => {
      await seed.tags(
        "big",
        BIG.map((name) => ({ name })),
      );
      bigId = await seed.repository("big");
      await seedLabels(
        db,
        "tag",
        BIG.map((name, i) => ({ owner: [bigId, name], labels: bigLabels(i) })),
      );
      if (dialect !== "sqlite") await db.ds.query("ANALYZE TABLE tags, tag_labels, repositories, manifests");
      else await db.ds.query("ANALYZE");
    }, 300_000);

    it("one statement a page, labels included", async () => {
      counter.reset();
      const { names, pages } = await readAll((pageToken) =>
        queries.listTags("big", list({ filter: ['labels."env"==prod'], pageSize: 40, pageToken })),
      );
      expect(names).toEqual(PROD);
      expect(pages).toBe(3);
      expect(counter.count).toBe(pages);
    });

    /** Rows the page query reads from `alias` (MariaDB ANALYZE), or its SEARCH line (SQLite), and whether it sorts. */
    async function plan(q: SqlFragment, alias: string): Promise<{ rows: number | string; sorts: boolean }> {
      if (dialect === "sqlite") {
        const rows: Array<{ detail: string }> = await db.ds.query(`EXPLAIN QUERY PLAN ${q.sql}`, q.params);
        return {
          rows: rows.map((r) => r.detail).find((d) => d.startsWith(`SEARCH ${alias} `)) ?? "",
          sorts: rows.some((r) => /TEMP B-TREE/.test(r.detail)),
        };
      }
      const rows: Array<{ table: string; r_rows: number | null; Extra: string | null }> = await db.ds.query(
        `ANALYZE ${q.sql}`,
        q.params,
      );
      return {
        rows: Number(rows.find((r) => r.table === alias)?.r_rows ?? Infinity),
        sorts: rows.some((r) => /filesort|temporary/i.test(r.Extra ?? "")),
      };
    }

    it("in name order, a page walks the label index from its bound: page_size + 1 rows, no sort", async () => {
      const filter = [[{ field: "labels", op: "labelEq", key: "env", value: "prod" } as const]];
      for (const after of [undefined, [PROD[50]!]]) {
        for (const order of ["name", "name desc"] as const) {
          const q = tagPageSql(dialect, { namespaceId: 1, repository: "big", order, limit: 10, filter, after });
          const { rows, sorts } = await plan(q, "d");
          expect(sorts, order).toBe(false);
          if (dialect === "sqlite") {
            expect(rows).toMatch(
              after
                ? /USING (COVERING )?INDEX ix_tag_labels_value \(repository_id=\? AND label_key=\? AND value_sha256=\? AND tag_name[<>]\?\)/
                : /USING (COVERING )?INDEX ix_tag_labels_value \(repository_id=\? AND label_key=\? AND value_sha256=\?\)/,
            );
          } else {
            expect(rows, `${order} after ${String(after)}`).toBeLessThanOrEqual(11);
          }
          const t = await plan(q, "t");
          if (dialect === "sqlite")
            expect(t.rows).toMatch(/USING INDEX uq_tags_repository_name \(repository_id=\? AND name=\?\)/);
          else expect(t.rows).toBeLessThanOrEqual(1);
          // Each returned tag's labels: a probe of tag_labels' primary key (2 labels a tag here).
          const l = await plan(q, "l");
          if (dialect === "sqlite")
            expect(l.rows).toMatch(/USING (PRIMARY KEY|(COVERING )?INDEX \S+) \(repository_id=\? AND tag_name=\?\)/);
          else expect(l.rows).toBeLessThanOrEqual(2);
        }
      }
    });

    it("in the other orders, it reads the matches (100 of 10 000) and sorts only those", async () => {
      const filter = [[{ field: "labels", op: "labelEq", key: "env", value: "prod" } as const]];
      for (const order of ["push_time desc", "total_size desc"] as const) {
        const q = tagPageSql(dialect, { namespaceId: 1, repository: "big", order, limit: 10, filter });
        const { rows } = await plan(q, "d");
        if (dialect === "sqlite")
          expect(rows).toMatch(/INDEX ix_tag_labels_value \(repository_id=\? AND label_key=\? AND value_sha256=\?\)/);
        else expect(rows).toBe(PROD.length);
        const page = await queries.listTags(
          "big",
          list({ filter: ['labels."env"==prod'], orderBy: order, pageSize: 10 }),
        );
        expect(page.items).toHaveLength(10);
      }
    });

    it("the answer equals the unfiltered list narrowed by hand", async () => {
      const all = await readAll((pageToken) => queries.listTags("big", list({ pageSize: 1000, pageToken })));
      expect(all.names).toHaveLength(BIG.length);
      const some = await queries.listTags("big", list({ pageSize: 5, filter: ['labels."n"==507'] }));
      expect(some.items.map((t: TagRecord) => [t.name, t.labels])).toEqual([["b00507", { env: "prod", n: "507" }]]);
    });
  });
});
