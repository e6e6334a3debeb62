/** The sync plan (DESIGN §4 step 2) as a pure function: skips, conditional fetches, removals, guards. */
import { describe, expect, it } from "vitest";
import type { IndexedRepository, IndexedTag } from "../../../../src/db/index/index-snapshot.js";
import { MASS_REMOVAL_MIN, planSync, unchangedRepositories } from "../../../../src/services/sync/sync-plan.js";
import { tagSetHash } from "../../../../src/db/index/tag-set-hash.js";
import { parseCatalog } from "../../../../src/storage/catalog.js";

const T1 = "2024-01-01T00:00:00Z";
const T2 = "2024-02-01T00:00:00Z";

function catalog(repos: Record<string, { tags: string[]; updatedAt?: string } | string>) {
  const doc = {
    repositories: Object.fromEntries(
      Object.entries(repos).map(([name, r]) =>
        typeof r === "string"
          ? [name, r]
          : [
              name,
              {
                tags: Object.fromEntries(r.tags.map((t) => [t, `manifests/${name}/${t}.json`])),
                updatedAt: r.updatedAt ?? T1,
              },
            ],
      ),
    ),
    updatedAt: T2,
  };
  return parseCatalog(Buffer.from(JSON.stringify(doc)));
}

let nextId = 1;
function indexed(
  name: string,
  tags: Record<string, Partial<IndexedTag>>,
  catalogUpdatedAt: string | null = T1,
): [string, IndexedRepository] {
  const map = new Map<string, IndexedTag>(
    Object.entries(tags).map(([t, o]) => [
      t,
      { digest: `sha256:${t}`, totalSize: 1, objectEtag: `"${t}"`, incomplete: false, newerThanCatalog: false, ...o },
    ]),
  );
  return [name, { id: nextId++, name, catalogUpdatedAt, tagSetSha256: null, tagCount: map.size, tags: map }];
}

describe("planSync", () => {
  it("skips a repository whose updatedAt and tag set are unchanged", () => {
    const plan = planSync(catalog({ "a/b": { tags: ["1", "2"] } }), new Map([indexed("a/b", { "1": {}, "2": {} })]), {
      full: false,
    });
    expect(plan).toMatchObject({
      fetches: [],
      skippedTags: 2,
      skippedRepositories: 1,
      removals: [],
      touched: [],
      failures: [],
    });
  });

  it("fetches a changed repository's tags conditionally and plans the removed ones", () => {
    const plan = planSync(
      catalog({ "a/b": { tags: ["1", "3"], updatedAt: T2 } }),
      new Map([indexed("a/b", { "1": {}, "2": {} })]),
      { full: false },
    );
    expect(plan.fetches.map((f) => [f.tag, f.ifNoneMatch ?? null])).toEqual([
      ["1", '"1"'],
      ["3", null],
    ]);
    expect(plan.removals).toMatchObject([{ repository: "a/b", names: ["2"], count: 1 }]);
    expect(plan.touched).toEqual([{ name: "a/b", catalogUpdatedAt: T2 }]);
  });

  it("notices a deleted tag although the repository's updatedAt did not move", () => {
    const plan = planSync(catalog({ "a/b": { tags: ["1"] } }), new Map([indexed("a/b", { "1": {}, "2": {} })]), {
      full: false,
    });
    expect(plan.skippedRepositories).toBe(0);
    expect(plan.removals).toMatchObject([{ names: ["2"] }]);
  });

  it("retries incomplete tags (without If-None-Match) even in a skipped repository", () => {
    const plan = planSync(
      catalog({ "a/b": { tags: ["1", "2"] } }),
      new Map([indexed("a/b", { "1": { incomplete: true }, "2": {} })]),
      { full: false },
    );
    expect(plan.fetches).toEqual([
      { repository: "a/b", tag: "1", existing: expect.objectContaining({ incomplete: true }) },
    ]);
    expect(plan.skippedTags).toBe(1);
  });

  it("ignores every shortcut in a full run", () => {
    const plan = planSync(catalog({ "a/b": { tags: ["1", "2"] } }), new Map([indexed("a/b", { "1": {}, "2": {} })]), {
      full: true,
    });
    expect(plan.fetches.map((f) => f.ifNoneMatch)).toEqual([undefined, undefined]);
    expect(plan.skippedTags).toBe(0);
  });

  it("refetches a repository whose last run failed (catalog_updated_at cleared)", () => {
    const plan = planSync(catalog({ "a/b": { tags: ["1"] } }), new Map([indexed("a/b", { "1": {} }, null)]), {
      full: false,
    });
    expect(plan.fetches).toHaveLength(1);
  });

  it("removes a repository that left the catalog, sparing tags written after the catalog read", () => {
    const plan = planSync(catalog({}), new Map([indexed("gone/repo", { "1": {}, "2": { newerThanCatalog: true } })]), {
      full: false,
    });
    expect(plan.removals).toEqual([{ repository: "gone/repo", repositoryId: expect.any(Number), count: 1 }]);
    expect(plan.touched).toEqual([{ name: "gone/repo" }]);
    const kept = planSync(
      catalog({ "a/b": { tags: ["1"], updatedAt: T2 } }),
      new Map([indexed("a/b", { "1": {}, "2": { newerThanCatalog: true } })]),
      { full: false },
    );
    expect(kept.removals).toEqual([]);
  });

  it("reports invalid names and malformed entries as failures, never as fetches, and keeps their rows", () => {
    const plan = planSync(
      catalog({ "Bad/Repo": { tags: ["x"] }, "a/b": { tags: ["ok", "bad tag"] }, "c/d": "not an object" }),
      new Map([indexed("c/d", { "1": {} })]),
      { full: false },
    );
    expect(plan.failures.map((f) => [f.repository, f.tag, f.reason])).toEqual([
      ["Bad/Repo", "x", "INVALID_NAME"],
      ["a/b", "bad tag", "INVALID_NAME"],
      ["c/d", "", "CATALOG_INVALID"],
    ]);
    expect(plan.fetches.map((f) => `${f.repository}:${f.tag}`)).toEqual(["a/b:ok"]);
    expect(plan.removals).toEqual([]);
  });

  it("flags a plan removing more than half of the indexed tags, and more than 100", () => {
    const tags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, {}]));
    const remove = (indexedCount: number, removed: number) =>
      planSync(
        catalog({ "a/b": { tags: Array.from({ length: indexedCount - removed }, (_, i) => `t${i}`), updatedAt: T2 } }),
        new Map([indexed("a/b", tags(indexedCount))]),
        {
          full: false,
        },
      ).massRemoval;
    expect(remove(200, MASS_REMOVAL_MIN + 1)).toBe(true);
    expect(remove(150, MASS_REMOVAL_MIN)).toBe(false);
    expect(remove(2 * (MASS_REMOVAL_MIN + 1), MASS_REMOVAL_MIN + 1)).toBe(false);
  });

  it("proves a repository unchanged by updatedAt and tag-set hash, and skips it without its rows", () => {
    const hashed = (name: string, names: string[], at: string | null = T1): [string, IndexedRepository] => [
      name,
      {
        id: nextId++,
        name,
        catalogUpdatedAt: at,
        tagSetSha256: tagSetHash(names),
        tagCount: names.length,
        tags: new Map(),
      },
    ];
    const cat = catalog({
      same: { tags: ["b", "a"] },
      moved: { tags: ["a"], updatedAt: T2 },
      deleted: { tags: ["a"] },
      unknown: { tags: ["a"] },
    });
    const heads = new Map([
      hashed("same", ["a", "b"]),
      hashed("moved", ["a"]),
      hashed("deleted", ["a", "b"]),
      indexed("unknown", { a: {} }),
    ]);
    expect([...unchangedRepositories(cat, heads, { full: false })]).toEqual(["same"]);
    expect(unchangedRepositories(cat, heads, { full: true }).size).toBe(0);
    // An entry with issues is never skipped.
    const withIssue = catalog({ same: { tags: ["a", "b", "not a tag!"] } });
    expect(withIssue.issues).toMatchObject([{ repository: "same", tag: "not a tag!" }]);
    expect(unchangedRepositories(withIssue, new Map([hashed("same", ["a", "b"])]), { full: false }).size).toBe(0);

    const index = new Map([hashed("same", ["a", "b"])]);
    index.get("same")!.unchanged = true;
    const plan = planSync(catalog({ same: { tags: ["a", "b"] }, other: { tags: ["x"] } }), index, { full: false });
    expect(plan).toMatchObject({ skippedRepositories: 1, skippedTags: 2, removals: [], indexedTags: 2 });
    expect(plan.fetches.map((f) => f.repository)).toEqual(["other"]);
  });

  it("hashes a tag set independently of order and of nothing else", () => {
    expect(tagSetHash(["b", "a", "c"])).toBe(tagSetHash(["c", "b", "a"]));
    expect(tagSetHash(["a", "b"])).not.toBe(tagSetHash(["a", "b", "c"]));
    expect(tagSetHash(["ab"])).not.toBe(tagSetHash(["a", "b"]));
  });
});
