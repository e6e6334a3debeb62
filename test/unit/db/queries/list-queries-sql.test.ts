/**
 * The SQL of every list query, per dialect, kept as a snapshot (immich-style): a change to a
 * query shape that matters for performance — the index hint, the keyset bound, the ORDER BY,
 * the columns read — shows up in review as a snapshot diff. The plans themselves are checked
 * against real databases in test/integration/services/queries/metadata-queries.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Dialect } from "../../../../src/db/column-types.js";
import { blobPageSql } from "../../../../src/db/queries/blob-queries.js";
import {
  REPOSITORY_SORTS,
  repositoryPageSql,
  type RepositoryOrder,
} from "../../../../src/db/queries/repository-queries.js";
import { TAG_SORTS, tagPageSql, type TagOrder } from "../../../../src/db/queries/tag-queries.js";

const DIALECTS: Dialect[] = ["sqlite", "mariadb"];
/** ListBlobs lists referenced blobs unless its filter tests ref_count (services/queries/blob-filter.ts). */
const REFERENCED = { field: "ref_count", op: "ne", value: "0" } as const;
const sampleKey = (types: readonly { type: string }[]) =>
  types.map((c) => (c.type === "number" ? 42 : c.type === "time" ? "2024-01-01 00:00:00.000" : "k"));

describe.each(DIALECTS)("list query shapes [%s]", (dialect) => {
  it("ListTags", () => {
    const shapes: Record<string, unknown> = {};
    for (const order of Object.keys(TAG_SORTS) as TagOrder[]) {
      const after = sampleKey(TAG_SORTS[order].columns);
      shapes[`${order} (first page)`] = tagPageSql(dialect, {
        namespaceId: 1,
        repository: "library/app",
        order,
        limit: 100,
      });
      shapes[`${order} (next page)`] = tagPageSql(dialect, {
        namespaceId: 1,
        repository: "library/app",
        order,
        after,
        limit: 100,
      });
    }
    expect(shapes).toMatchSnapshot();
  });

  it("ListRepositories", () => {
    const shapes: Record<string, unknown> = {};
    for (const order of Object.keys(REPOSITORY_SORTS) as RepositoryOrder[]) {
      const after = sampleKey(REPOSITORY_SORTS[order].columns);
      shapes[`${order} (first page)`] = repositoryPageSql(dialect, { namespaceId: 1, order, limit: 100 });
      shapes[`${order} (next page)`] = repositoryPageSql(dialect, { namespaceId: 1, order, after, limit: 100 });
    }
    expect(shapes).toMatchSnapshot();
  });

  it("ListBlobs", () => {
    expect({
      "first page": blobPageSql(dialect, { namespaceId: 1, limit: 100, filter: [[REFERENCED]] }),
      "next page": blobPageSql(dialect, {
        namespaceId: 1,
        after: [`sha256:${"0".repeat(64)}`],
        limit: 100,
        filter: [[REFERENCED]],
      }),
      "unreferenced (ref_count==0)": blobPageSql(dialect, {
        namespaceId: 1,
        limit: 100,
        filter: [[{ field: "ref_count", op: "eq", value: "0" }]],
      }),
    }).toMatchSnapshot();
  });

  it("filtered lists (the filter is ANDed after the keyset bound)", () => {
    const filter = [
      [{ field: "kind", op: "eq", value: "SNAPSHOT" } as const],
      [{ field: "name", op: "prefix", value: "v1." } as const],
    ];
    expect({
      tags: tagPageSql(dialect, {
        namespaceId: 1,
        repository: "library/app",
        order: "push_time desc",
        after: ["2024-01-01 00:00:00.000", "k"],
        limit: 100,
        filter,
      }),
      repositories: repositoryPageSql(dialect, {
        namespaceId: 1,
        order: "name",
        limit: 100,
        filter: [[{ field: "artifact_type", op: "nonEmpty" }]],
      }),
      blobs: blobPageSql(dialect, {
        namespaceId: 1,
        limit: 100,
        filter: [[{ field: "media_type", op: "ne", value: "x" }, REFERENCED]],
      }),
    }).toMatchSnapshot();
  });

  it("lists of a token bound to some repositories (exact name, prefix, and a glob SQL narrows by GLOB/LIKE)", () => {
    const bound = [
      [{ field: "name", op: "glob", value: "library/app" } as const],
      [{ field: "name", op: "glob", value: "team/*" } as const],
      [{ field: "name", op: "glob", value: "ops/*/api_v1" } as const],
    ];
    expect({
      repositories: repositoryPageSql(dialect, { namespaceId: 1, order: "update_time desc", limit: 100, bound }),
      blobs: blobPageSql(dialect, {
        namespaceId: 1,
        after: [`sha256:${"0".repeat(64)}`],
        limit: 100,
        filter: [[REFERENCED]],
        bound,
      }),
    }).toMatchSnapshot();
  });

  it("label filters: an equality drives the page through the label index; other label tests are semi-joins", () => {
    const eq = { field: "labels", op: "labelEq", key: "env", value: "prod" } as const;
    const shapes: Record<string, unknown> = {};
    for (const order of Object.keys(TAG_SORTS) as TagOrder[]) {
      shapes[`tags ${order} labels."env"==prod, kind==SNAPSHOT (next page)`] = tagPageSql(dialect, {
        namespaceId: 1,
        repository: "library/app",
        order,
        after: sampleKey(TAG_SORTS[order].columns),
        limit: 100,
        filter: [[eq, { field: "kind", op: "eq", value: "SNAPSHOT" }]],
      });
    }
    shapes["tags: every other label test, ORed (not driven)"] = tagPageSql(dialect, {
      namespaceId: 1,
      repository: "library/app",
      order: "name",
      limit: 100,
      filter: [
        [eq],
        [
          { field: "labels", op: "labelNe", key: "env", value: "dev" },
          { field: "labels", op: "labelPresent", key: "team" },
          { field: "labels", op: "labelNonEmpty", key: "tier" },
        ],
      ],
    });
    for (const order of Object.keys(REPOSITORY_SORTS) as RepositoryOrder[]) {
      shapes[`repositories ${order} labels."env"==prod (next page)`] = repositoryPageSql(dialect, {
        namespaceId: 1,
        order,
        after: sampleKey(REPOSITORY_SORTS[order].columns),
        limit: 100,
        filter: [[eq]],
      });
    }
    shapes["repositories: labels.team, name==x"] = repositoryPageSql(dialect, {
      namespaceId: 1,
      order: "name",
      limit: 100,
      filter: [
        [
          { field: "labels", op: "labelPresent", key: "team" },
          { field: "name", op: "eq", value: "x" },
        ],
      ],
    });
    expect(shapes).toMatchSnapshot();
  });

  it("never reads manifest bytes in a list, never uses OFFSET", () => {
    for (const order of Object.keys(TAG_SORTS) as TagOrder[]) {
      const { sql } = tagPageSql(dialect, {
        namespaceId: 1,
        repository: "a",
        order,
        after: sampleKey(TAG_SORTS[order].columns),
        limit: 10,
      });
      expect(sql).not.toMatch(/\bm\.json\b|\bOFFSET\b/i);
    }
  });
});
