/**
 * Keyset pages under label filters while the list changes (SQLite and MariaDB): for every label
 * operator (==, !=, ~=, presence) in every order of ListTags and ListRepositories, rows are
 * inserted before and after the cursor and a not-yet-read match is relabelled away between
 * pages. Whatever the plan (the label index as the driver in name order, probes otherwise), the
 * pages never repeat a row, stay in order, return every row that matched throughout and every
 * match inserted ahead of the cursor, and never one inserted behind it or relabelled away.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import { REPOSITORY_ORDERS, TAG_ORDERS } from "../../../../src/services/queries/list-options.js";
import { MetadataQueries } from "../../../../src/services/queries/metadata-queries.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { IndexSeeder } from "../../../helpers/seed-index.js";
import { seedLabels } from "../../../helpers/seed-labels.js";

const T0 = Date.UTC(2024, 0, 1);
const ROWS = 24;
const PAGE = 4;

/** A row of either list, with the values its orders sort by. */
interface Row {
  name: string;
  time: number;
  size: number;
}

/** The sort key of an order: name, or a value then the name; descending orders reverse both. */
function comparator(order: string): (a: Row, b: Row) => number {
  const cmp = (x: string | number, y: string | number) => (x < y ? -1 : x > y ? 1 : 0);
  const byName = (a: Row, b: Row) => cmp(a.name, b.name);
  const primary =
    order.startsWith("push_time") || order.startsWith("update_time")
      ? (a: Row, b: Row) => cmp(a.time, b.time) || byName(a, b)
      : order.startsWith("total_size")
        ? (a: Row, b: Row) => cmp(a.size, b.size) || byName(a, b)
        : byName;
  return order.endsWith(" desc") ? (a, b) => primary(b, a) : primary;
}

/**
 * A row that sorts before every seeded row (`first`) or after all of them, in `order`; the n-th
 * row after them also sorts after the (n-1)-th, so each one is ahead of the cursor when inserted.
 */
function outside(order: string, first: boolean, n: number, prefix: string): Row {
  const low: Row = { name: `${prefix}a${99 - n}`, time: T0 - 86_400_000 * (10 + n), size: 100 - n };
  const high: Row = {
    name: `${prefix}z${String(n).padStart(2, "0")}`,
    time: T0 + 86_400_000 * (10 + n),
    size: 100_000 + n,
  };
  const descending = order.endsWith(" desc");
  return first !== descending ? low : high;
}

/** The operators under test: the filter, and the labels a row needs to match it and to miss it. */
const OPERATORS: Array<{ filter: string; match: Record<string, string>; miss: Record<string, string> }> = [
  { filter: 'labels."env"==prod', match: { env: "prod" }, miss: { env: "dev" } },
  { filter: 'labels."env"!=prod', match: { env: "dev" }, miss: { env: "prod" } },
  { filter: 'labels."env"~="^d"', match: { env: "dev" }, miss: { env: "x" } },
  { filter: "labels.env", match: { env: "" }, miss: {} },
];

/** Seeded labels of row i: a match on even rows, a miss on odd ones. */
const seededLabels = (op: (typeof OPERATORS)[number], i: number) => (i % 2 === 0 ? op.match : op.miss);

const list = (filter: string, orderBy: string, pageToken: string) => ({
  pageSize: PAGE,
  pageToken,
  filter: [filter],
  orderBy,
});

forEachDialect("label filter pages with writes between them", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let seed: IndexSeeder;
  let queries: MetadataQueries;

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect));
    seed = await new IndexSeeder(db).init();
    queries = new MetadataQueries(db);
  });
  afterAll(async () => {
    await cleanup?.();
  });

  /**
   * Reads every page; between pages, inserts a match before the cursor and one after it, and
   * (once) relabels the last unread seeded match away. Then checks the invariants above.
   */
  async function walk(
    order: string,
    prefix: string,
    seeded: Row[],
    read: (pageToken: string) => Promise<{ items: Array<{ name: string }>; nextPageToken: string }>,
    insert: (row: Row) => Promise<void>,
    relabelAway: (name: string) => Promise<void>,
    matchingSeeded: Set<string>,
  ): Promise<void> {
    const compare = comparator(order);
    const rows = new Map(seeded.map((r) => [r.name, r]));
    const behind: string[] = [];
    const ahead: string[] = [];
    let relabelled: string | undefined;
    const seen: string[] = [];
    let token = "";
    let n = 0;
    do {
      const page = await read(token);
      seen.push(...page.items.map((t) => t.name));
      token = page.nextPageToken;
      if (!token) break;
      n++;
      const before = outside(order, true, n, prefix);
      const after = outside(order, false, n, prefix);
      for (const row of [before, after]) {
        rows.set(row.name, row);
        await insert(row);
      }
      behind.push(before.name);
      ahead.push(after.name);
      if (!relabelled) {
        const unread = [...matchingSeeded]
          .map((name) => rows.get(name)!)
          .sort(compare)
          .at(-1)!;
        relabelled = unread.name;
        await relabelAway(relabelled);
      }
    } while (n < 50);

    expect(seen, "no repeats").toEqual([...new Set(seen)]);
    const inOrder = seen.map((name) => rows.get(name)!);
    expect(inOrder, "in order").toEqual([...inOrder].sort(compare));
    for (const name of matchingSeeded) if (name !== relabelled) expect(seen).toContain(name);
    for (const name of ahead) expect(seen).toContain(name);
    for (const name of behind) expect(seen).not.toContain(name);
    expect(relabelled && seen).not.toContain(relabelled);
    expect(n).toBeGreaterThan(2);
  }

  describe("ListTags", () => {
    for (const op of OPERATORS) {
      for (const order of TAG_ORDERS) {
        it(`${op.filter} by ${order}`, async () => {
          const repository = `tags/${OPERATORS.indexOf(op)}-${order.replace(" ", "-")}`;
          const seeded: Row[] = Array.from({ length: ROWS }, (_, i) => ({
            name: `m${String(i).padStart(2, "0")}`,
            time: T0 + ((i * 7) % ROWS) * 60_000,
            size: 1000 + ((i * 5) % ROWS),
          }));
          const toSeed = (r: Row) => ({ name: r.name, pushedAt: new Date(r.time), totalSize: r.size });
          await seed.tags(repository, seeded.map(toSeed));
          const id = await seed.repository(repository);
          await seedLabels(
            db,
            "tag",
            seeded.map((r, i) => ({ owner: [id, r.name], labels: seededLabels(op, i) })),
          );
          await walk(
            order,
            "",
            seeded,
            (pageToken) => queries.listTags(repository, list(op.filter, order, pageToken)),
            async (row) => {
              await seed.tags(repository, [toSeed(row)]);
              await seedLabels(db, "tag", [{ owner: [id, row.name], labels: op.match }]);
            },
            async (name) => {
              await db.ds.query("DELETE FROM tag_labels WHERE repository_id = ? AND tag_name = ?", [id, name]);
              await seedLabels(db, "tag", [{ owner: [id, name], labels: op.miss }]);
            },
            new Set(seeded.filter((_, i) => i % 2 === 0).map((r) => r.name)),
          );
        });
      }
    }
  });

  describe("ListRepositories", () => {
    for (const op of OPERATORS) {
      for (const order of REPOSITORY_ORDERS) {
        it(`${op.filter} by ${order}`, async () => {
          // Each case lists its own repositories: a label key of its own, required present, keeps the others out.
          const key = `case${OPERATORS.indexOf(op)}${REPOSITORY_ORDERS.indexOf(order)}`;
          const filter = `${op.filter.replace('"env"', `"${key}"`).replace("labels.env", `labels.${key}`)},labels.${key}`;
          const rename = (labels: Record<string, string>) =>
            Object.fromEntries(Object.entries(labels).map(([, v]) => [key, v]));
          const [match, miss] = [rename(op.match), rename(op.miss)];
          const prefix = `${key}/`;
          const seeded: Row[] = Array.from({ length: ROWS }, (_, i) => ({
            name: `${prefix}m${String(i).padStart(2, "0")}`,
            time: T0 + ((i * 7) % ROWS) * 60_000,
            size: 1000 + ((i * 5) % ROWS),
          }));
          const namespaceId = 1;
          const add = async (r: Row, labels: Record<string, string>) => {
            await seed.repository(r.name, { updatedAt: new Date(r.time), totalSize: r.size });
            await seedLabels(db, "repository", [{ owner: [namespaceId, r.name], labels }]);
          };
          for (const [i, r] of seeded.entries()) await add(r, i % 2 === 0 ? match : miss);
          await walk(
            order,
            prefix,
            seeded,
            (pageToken) => queries.listRepositories(list(filter, order, pageToken)),
            (row) => add(row, match),
            async (name) => {
              await db.ds.query("DELETE FROM repository_labels WHERE namespace_id = ? AND repository_name = ?", [
                namespaceId,
                name,
              ]);
              await seedLabels(db, "repository", [{ owner: [namespaceId, name], labels: miss }]);
            },
            new Set(seeded.filter((_, i) => i % 2 === 0).map((r) => r.name)),
          );
        });
      }
    }
  });
});
