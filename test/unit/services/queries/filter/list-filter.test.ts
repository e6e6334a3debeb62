import { describe, expect, it } from "vitest";
import { BLOB_FILTER_COLUMNS } from "../../../../../src/db/queries/blob-queries.js";
import { filterSql } from "../../../../../src/db/queries/filter-sql.js";
import type { KeysetRows, KeyValue } from "../../../../../src/db/queries/records.js";
import { REPOSITORY_FILTER_COLUMNS } from "../../../../../src/db/queries/repository-queries.js";
import { TAG_FILTER_COLUMNS } from "../../../../../src/db/queries/tag-queries.js";
import { readPage, ROW_BUDGET } from "../../../../../src/services/queries/filtered-page.js";
import { parseFilterString } from "../../../../../src/services/queries/filter/filter-syntax.js";
import { compileListFilter } from "../../../../../src/services/queries/filter/list-filter.js";
import {
  BLOB_FILTER_FIELDS,
  REPOSITORY_FILTER_FIELDS,
  TAG_FILTER_FIELDS,
  type TagRecord,
} from "../../../../../src/services/queries/metadata-queries.js";
import { errorOf } from "../../../../helpers/errors.js";

const tag = (over: Partial<TagRecord>): TagRecord => ({
  repository: "r",
  name: "latest",
  digest: `sha256:${"a".repeat(64)}`,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "",
  kind: "CONTAINER_IMAGE",
  totalSize: 0,
  layerCount: 0,
  platformSizes: [],
  pushedAt: new Date(0),
  indexedAt: new Date(0),
  syncedAt: null,
  incomplete: false,
  labels: {},
  ...over,
});

describe("filter syntax (containerd)", () => {
  it("parses selectors, operators, quoting and whitespace", () => {
    expect(parseFilterString("name==foo")).toEqual([{ path: ["name"], op: "==", value: "foo" }]);
    expect(parseFilterString(" name != foo , kind ")).toEqual([
      { path: ["name"], op: "!=", value: "foo" },
      { path: ["kind"], op: "present", value: "" },
    ]);
    expect(parseFilterString('artifact_type=="a,b \\"c\\"\\x41"')).toEqual([
      { path: ["artifact_type"], op: "==", value: 'a,b "c"A' },
    ]);
    expect(parseFilterString("name~=/^v[0-9]{1,2}\\/x$/,kind==SNAPSHOT")).toEqual([
      { path: ["name"], op: "~=", value: "^v[0-9]{1,2}/x$" },
      { path: ["kind"], op: "==", value: "SNAPSHOT" },
    ]);
    expect(parseFilterString("name~=|a/b\\d|")).toEqual([{ path: ["name"], op: "~=", value: "a/b\\d" }]);
    expect(parseFilterString('labels."io.example/team"==ops')).toEqual([
      { path: ["labels", "io.example/team"], op: "==", value: "ops" },
    ]);
    expect(parseFilterString("digest==sha256:abc")).toEqual([{ path: ["digest"], op: "==", value: "sha256:abc" }]);
    expect(parseFilterString("   ")).toEqual([]);
  });

  it("rejects malformed filters with INVALID_FILTER", () => {
    const bad = [
      "name=x",
      "name==",
      "==x",
      "name==x y",
      'name=="open',
      'name=="\\g"',
      "name==x,",
      ",name==x",
      "1name==x",
      "name==a,,b",
      "name~=/open",
      "x".repeat(5000),
      Array.from({ length: 40 }, () => "name==a").join(","),
    ];
    for (const f of bad) expect(errorOf(() => parseFilterString(f)).reason, f.slice(0, 30)).toBe("INVALID_FILTER");
  });
});

describe("compiled list filters", () => {
  it("select everything when empty (an empty element ORs in everything)", () => {
    expect(compileListFilter([], TAG_FILTER_FIELDS)).toBeUndefined();
    expect(compileListFilter(["name==a", " "], TAG_FILTER_FIELDS)).toBeUndefined();
  });

  it("turn ==, != and presence into exact SQL tests (no post-filter)", () => {
    const f = compileListFilter(["name==latest,kind==ARTIFACT_KIND_SNAPSHOT", "artifact_type"], TAG_FILTER_FIELDS)!;
    expect(f.condition).toEqual([
      [
        { field: "name", op: "eq", value: "latest" },
        { field: "kind", op: "eq", value: "SNAPSHOT" },
      ],
      [{ field: "artifact_type", op: "nonEmpty" }],
    ]);
    expect(f.matches).toBeUndefined();
    expect(f.key).toEqual(['name=="latest",kind=="ARTIFACT_KIND_SNAPSHOT"', "artifact_type"]);
    // Equivalent spellings bind page tokens the same way.
    expect(
      compileListFilter(['name == "latest" , kind==ARTIFACT_KIND_SNAPSHOT', "artifact_type"], TAG_FILTER_FIELDS)!.key,
    ).toEqual(f.key);
  });

  it("run regexes on the bounded engine, pushing an anchored literal prefix into SQL", () => {
    const f = compileListFilter(["name~=^release-.*-rc[0-9]+$", "kind~=IMAGE"], TAG_FILTER_FIELDS)!;
    expect(f.condition).toEqual([[{ field: "name", op: "prefix", value: "release-" }], []]);
    const meter = { steps: 0 };
    expect(f.matches!(tag({ name: "release-2-rc1", kind: "SNAPSHOT" }), meter)).toBe(true);
    expect(f.matches!(tag({ name: "release-2", kind: "SNAPSHOT" }), meter)).toBe(false);
    expect(f.matches!(tag({ name: "x", kind: "IMAGE_INDEX" }), meter)).toBe(true);
    expect(meter.steps).toBeGreaterThan(0);
  });

  it("reject unknown fields, and labels where a list has none or the key cannot exist", () => {
    expect(errorOf(() => compileListFilter(["size==1"], TAG_FILTER_FIELDS)).reason).toBe("INVALID_FILTER");
    expect(errorOf(() => compileListFilter(["name.x==1"], TAG_FILTER_FIELDS)).reason).toBe("INVALID_FILTER");
    expect(errorOf(() => compileListFilter(["digest==x"], REPOSITORY_FILTER_FIELDS)).reason).toBe("INVALID_FILTER");
    expect(errorOf(() => compileListFilter(["toString==x"], TAG_FILTER_FIELDS)).reason).toBe("INVALID_FILTER");
    expect(errorOf(() => compileListFilter(["name~=(?=x)"], TAG_FILTER_FIELDS)).reason).toBe("INVALID_FILTER");
    expect(errorOf(() => compileListFilter(['labels."a"==b'], BLOB_FILTER_FIELDS)).reason).toBe("INVALID_FILTER");
    const labelsOf = (t: TagRecord) => t.labels;
    for (const bad of ['labels."a b"==x', 'labels."é"', "labels.a.b==x", "labels", 'labels.""'])
      expect(errorOf(() => compileListFilter([bad], TAG_FILTER_FIELDS, labelsOf)).reason).toBe("INVALID_FILTER");
  });

  it('compile labels with containerd\'s semantics (absent reads as "")', () => {
    const labelsOf = (t: TagRecord) => t.labels;
    const m = { steps: 0 };
    const run = (filter: string, _labels: Record<string, string>) =>
      compileListFilter([filter], TAG_FILTER_FIELDS, labelsOf)!;
    const check = (filter: string, labels: Record<string, string>) => {
      const f = run(filter, labels);
      // Exact in SQL unless a regex is involved: then `matches` decides.
      return f.matches ? f.matches(tag({ labels }), m) : undefined;
    };
    expect(run('labels."env"==prod', {}).condition).toEqual([
      [{ field: "labels", op: "labelEq", key: "env", value: "prod" }],
    ]);
    expect(run('labels."env"!=prod', {}).condition).toEqual([
      [{ field: "labels", op: "labelNe", key: "env", value: "prod" }],
    ]);
    expect(run('labels."env"!=""', {}).condition).toEqual([[{ field: "labels", op: "labelNonEmpty", key: "env" }]]);
    expect(run("labels.env", {}).condition).toEqual([[{ field: "labels", op: "labelPresent", key: "env" }]]);
    // A regex that rejects "" keeps SQL to labelled rows; one that accepts "" cannot narrow in SQL.
    expect(run('labels."env"~="^pr"', {}).condition).toEqual([[{ field: "labels", op: "labelPresent", key: "env" }]]);
    expect(run('labels."env"~="^(pr.*)?$"', {}).condition).toEqual([[]]);
    expect(check('labels."env"~="^pr"', { env: "prod" })).toBe(true);
    expect(check('labels."env"~="^pr"', { env: "dev" })).toBe(false);
    expect(check('labels."env"~="^(pr.*)?$"', {})).toBe(true);
    expect(check('labels."env"~="^(pr.*)?$", labels."env"!=prod', { env: "prod" })).toBe(false);
    expect(check('labels."env"~=".", labels.team', { env: "x" })).toBe(false);
    expect(check('labels."env"~=".", labels.team', { env: "x", team: "" })).toBe(true);
  });

  it("offer exactly the fields the SQL layer has columns for", () => {
    expect(Object.keys(TAG_FILTER_FIELDS).sort()).toEqual(Object.keys(TAG_FILTER_COLUMNS).sort());
    expect(Object.keys(REPOSITORY_FILTER_FIELDS).sort()).toEqual(Object.keys(REPOSITORY_FILTER_COLUMNS).sort());
    expect(Object.keys(BLOB_FILTER_FIELDS).sort()).toEqual(Object.keys(BLOB_FILTER_COLUMNS).sort());
  });

  it("render as bound, byte-wise SQL", () => {
    const condition = compileListFilter(["name~=^v1\\.,kind==SNAPSHOT", "media_type!=x"], TAG_FILTER_FIELDS)!.condition;
    expect(filterSql("mariadb", condition, TAG_FILTER_COLUMNS)).toEqual({
      sql: "((t.name >= ? AND t.name < ? AND t.kind COLLATE utf8mb4_bin = ?) OR (m.media_type COLLATE utf8mb4_bin <> ?))",
      params: ["v1.", "v1/", "SNAPSHOT", "x"],
    });
    expect(filterSql("sqlite", condition, TAG_FILTER_COLUMNS)?.sql).toBe(
      "((t.name >= ? AND t.name < ? AND t.kind = ?) OR (m.media_type <> ?))",
    );
    expect(filterSql("sqlite", [[], [{ field: "name", op: "eq", value: "a" }]], TAG_FILTER_COLUMNS)).toBeUndefined();
  });
});

describe("filtered pages", () => {
  /** n rows keyed 0..n-1, served in batches like a keyset query. */
  function source(n: number) {
    let queries = 0;
    const fetch = async (after: readonly KeyValue[] | undefined, limit: number): Promise<KeysetRows<number>> => {
      queries++;
      const start = after ? Number(after[0]) + 1 : 0;
      const items = Array.from({ length: Math.max(0, Math.min(limit, n - start)) }, (_, i) => start + i);
      return { items, keys: items.map((i) => [i]), more: start + items.length < n };
    };
    return { fetch, queries: () => queries };
  }

  it("fills a page from as many batches as it takes, and says when more follow", async () => {
    const rows = source(5000);
    const page = await readPage(rows.fetch, undefined, 10, (i) => i % 97 === 0);
    expect(page.items).toEqual(Array.from({ length: 10 }, (_, i) => i * 97));
    expect(page.lastKey).toEqual([9 * 97]);
    expect(rows.queries()).toBe(2);
    const last = await readPage(rows.fetch, [4850], 10, (i) => i % 97 === 0);
    expect(last).toEqual({ items: [4947] });
  });

  it("stops after its row budget with a token that resumes after the last row examined", async () => {
    const rows = source(ROW_BUDGET * 2 + 5);
    let page = await readPage(rows.fetch, undefined, 10, () => false);
    expect(page).toEqual({ items: [], lastKey: [ROW_BUDGET - 1] });
    page = await readPage(rows.fetch, page.lastKey, 10, (i) => i === ROW_BUDGET * 2 + 1);
    expect(page).toEqual({ items: [], lastKey: [ROW_BUDGET * 2 - 1] });
    page = await readPage(rows.fetch, page.lastKey, 10, (i) => i === ROW_BUDGET * 2 + 1);
    expect(page).toEqual({ items: [ROW_BUDGET * 2 + 1] });
  });

  it("always examines at least one row, so even an expensive filter advances", async () => {
    const rows = source(3);
    const expensive = (_: number, meter: { steps: number }) => {
      meter.steps += 10_000_000;
      return true;
    };
    expect(await readPage(rows.fetch, undefined, 10, expensive)).toEqual({ items: [0], lastKey: [0] });
  });
});
