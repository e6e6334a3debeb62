import { describe, expect, it } from "vitest";
import {
  emptyCatalogDocument,
  nextTimestamp,
  parseCatalog,
  parseCatalogDocument,
  serializeCatalog,
} from "../../../src/storage/catalog.js";
import {
  blobKey,
  manifestDigestKey,
  manifestKey,
  removeCatalogTag,
  setCatalogTag,
} from "../../../src/storage/registry-layout.js";

const hex = "ab".repeat(32);
const b = (s: string) => Buffer.from(s);

describe("layout keys", () => {
  it("builds Epoch's keys", () => {
    expect(manifestKey("team/app", "v1")).toBe("manifests/team/app/v1.json");
    expect(manifestDigestKey("team/app", `sha256:${hex}`)).toBe(`manifests/team/app/_digests/sha256-${hex}.json`);
    expect(blobKey(`sha256:${hex}`)).toBe(`blobs/sha256/${hex}`);
  });

  it("refuses to build a key from an invalid name or digest", () => {
    expect(() => manifestKey("../etc", "v1")).toThrow(expect.objectContaining({ reason: "INVALID_NAME" }));
    expect(() => manifestKey("ok", "../../x")).toThrow(expect.objectContaining({ reason: "INVALID_NAME" }));
    expect(() => manifestDigestKey("ok", "sha256:../../x")).toThrow(
      expect.objectContaining({ reason: "INVALID_DIGEST" }),
    );
    expect(() => blobKey("md5:abc")).toThrow(expect.objectContaining({ reason: "INVALID_DIGEST" }));
  });
});

// What Go's json.MarshalIndent writes for Epoch's Catalog struct.
const goCatalog = `{
  "repositories": {
    "library/alpine": {
      "tags": {
        "3.19": "manifests/library/alpine/3.19.json",
        "latest": "manifests/library/alpine/latest.json"
      },
      "updatedAt": "2024-05-01T10:00:00.123456789+08:00"
    },
    "team/app": {
      "tags": {
        "v1": "manifests/team/app/v1.json"
      },
      "updatedAt": "2024-05-01T02:00:00Z"
    }
  },
  "updatedAt": "2024-05-01T10:00:00.5+08:00"
}`;

describe("parseCatalog", () => {
  it("reads Epoch's catalog and keeps time strings exactly", () => {
    const c = parseCatalog(b(goCatalog));
    expect(c.issues).toEqual([]);
    expect(c.updatedAt).toBe("2024-05-01T10:00:00.5+08:00");
    expect(c.updatedAtDate?.toISOString()).toBe("2024-05-01T02:00:00.500Z");
    expect(c.repositories.map((r) => r.name)).toEqual(["library/alpine", "team/app"]);
    const alpine = c.repositories[0]!;
    expect(alpine.updatedAt).toBe("2024-05-01T10:00:00.123456789+08:00");
    expect(alpine.updatedAtDate?.toISOString()).toBe("2024-05-01T02:00:00.123Z");
    expect(alpine.tags).toEqual([
      { name: "3.19", key: "manifests/library/alpine/3.19.json" },
      { name: "latest", key: "manifests/library/alpine/latest.json" },
    ]);
  });

  it("sorts names byte-wise and keeps case-distinct tags apart", () => {
    const c = parseCatalog(
      b(JSON.stringify({ repositories: { r: { tags: { latest: "a", Latest: "b", "10": "c", "9": "d" } } } })),
    );
    expect(c.repositories[0]?.tags.map((t) => t.name)).toEqual(["10", "9", "Latest", "latest"]);
  });

  it("reports invalid names and malformed entries as issues, keeping the rest", () => {
    const c = parseCatalog(
      b(
        JSON.stringify({
          repositories: {
            "Bad/UPPER": { tags: { x: "k", y: "k" } },
            "Empty/Bad": { tags: {} },
            good: { tags: { ok: "manifests/good/ok.json", "bad tag": "k", n: 5 }, updatedAt: 7 },
            "shape/1": "not an object",
            "shape/2": { tags: [] },
            nulltags: { tags: null, updatedAt: "2024-01-01T00:00:00Z" },
          },
          updatedAt: "garbage",
        }),
      ),
    );
    expect(c.repositories.map((r) => [r.name, r.tags.map((t) => t.name), r.updatedAt])).toEqual([
      ["good", ["ok"], ""],
      ["nulltags", [], "2024-01-01T00:00:00Z"],
    ]);
    expect(c.updatedAt).toBe("garbage");
    expect(c.updatedAtDate).toBeUndefined();
    expect(c.issues.map((i) => [i.repository, i.tag, i.reason])).toEqual([
      ["Bad/UPPER", "x", "INVALID_NAME"],
      ["Bad/UPPER", "y", "INVALID_NAME"],
      ["Empty/Bad", undefined, "INVALID_NAME"],
      ["good", "bad tag", "INVALID_NAME"],
      ["good", "n", "CATALOG_INVALID"],
      ["shape/1", undefined, "CATALOG_INVALID"],
      ["shape/2", undefined, "CATALOG_INVALID"],
    ]);
  });

  it("accepts an empty object and null repositories", () => {
    expect(parseCatalog(b("{}")).repositories).toEqual([]);
    expect(parseCatalog(b('{"repositories":null}')).repositories).toEqual([]);
  });

  it.each(["", "not json", "[]", "null", '"x"', '{"repositories": []}', '{"repositories": 5}'])(
    "fails the whole file on %j with CATALOG_INVALID",
    (text) => {
      expect(() => parseCatalog(b(text))).toThrow(expect.objectContaining({ reason: "CATALOG_INVALID" }));
    },
  );
});

describe("serializeCatalog", () => {
  it("writes exactly what Go's MarshalIndent writes", () => {
    expect(serializeCatalog(parseCatalogDocument(b(goCatalog))).toString()).toBe(goCatalog);
  });

  it("sorts keys byte-wise (not JS integer-first order) and escapes like Go", () => {
    const doc = emptyCatalogDocument();
    doc.updatedAt = "2024-01-01T00:00:00Z";
    doc.repositories.set("r", {
      tags: new Map<string, unknown>([
        ["9", "a<b>&"],
        ["10", "x"],
        ["Z", "y"],
      ]),
      updatedAt: "2024-01-01T00:00:00Z",
    });
    const text = serializeCatalog(doc).toString();
    expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"9"'));
    expect(text.indexOf('"9"')).toBeLessThan(text.indexOf('"Z"'));
    expect(text).toContain('"a\\u003cb\\u003e\\u0026"');
    expect(JSON.parse(text).repositories.r.tags["9"]).toBe("a<b>&");
  });

  it("keeps entries it does not understand", () => {
    const raw =
      '{"repositories":{"Bad/UPPER":{"tags":{"x":"k"},"updatedAt":"t"},"odd":[1,{"b":2,"a":null}]},"updatedAt":"2024-01-01T00:00:00Z"}';
    const again = JSON.parse(serializeCatalog(parseCatalogDocument(b(raw))).toString());
    expect(again).toEqual(JSON.parse(raw));
  });

  it("writes the zero time for a missing updatedAt, as Go does", () => {
    const doc = parseCatalogDocument(b('{"repositories":{"r":{"tags":{}}}}'));
    expect(JSON.parse(serializeCatalog(doc).toString())).toEqual({
      repositories: { r: { tags: {}, updatedAt: "0001-01-01T00:00:00Z" } },
      updatedAt: "0001-01-01T00:00:00Z",
    });
  });
});

describe("catalog edits", () => {
  const t0 = new Date("2024-05-01T10:00:00Z");
  const t1 = new Date("2024-05-01T11:00:00Z");

  it("push sets the tag and bumps the repository's and the catalog's updatedAt", () => {
    const doc = emptyCatalogDocument();
    setCatalogTag(doc, "team/app", "v1", t0);
    setCatalogTag(doc, "other", "x", t0);
    setCatalogTag(doc, "team/app", "v2", t1);
    const c = parseCatalog(serializeCatalog(doc));
    expect(c.updatedAt).toBe("2024-05-01T11:00:00Z");
    expect(c.repositories.map((r) => [r.name, r.updatedAt, r.tags.map((t) => t.key)])).toEqual([
      ["other", "2024-05-01T10:00:00Z", ["manifests/other/x.json"]],
      ["team/app", "2024-05-01T11:00:00Z", ["manifests/team/app/v1.json", "manifests/team/app/v2.json"]],
    ]);
  });

  it("remove keeps the repository's updatedAt, bumps the catalog's, and drops an empty repository", () => {
    const doc = emptyCatalogDocument();
    setCatalogTag(doc, "r", "a", t0);
    setCatalogTag(doc, "r", "b", t0);
    expect(removeCatalogTag(doc, "r", "a", t1)).toBe(true);
    let c = parseCatalog(serializeCatalog(doc));
    expect(c.repositories[0]?.updatedAt).toBe("2024-05-01T10:00:00.001Z");
    expect(c.updatedAt).toBe("2024-05-01T11:00:00Z");
    expect(removeCatalogTag(doc, "r", "missing", t1)).toBe(false);
    expect(removeCatalogTag(doc, "nope", "a", t1)).toBe(false);
    expect(removeCatalogTag(doc, "r", "b", t1)).toBe(true);
    c = parseCatalog(serializeCatalog(doc));
    expect(c.repositories).toEqual([]);
  });

  it("always moves updatedAt forward, even when the clock does not", () => {
    expect(nextTimestamp("2024-05-01T10:00:00Z", t0)).toBe("2024-05-01T10:00:00.001Z");
    expect(nextTimestamp("2024-05-01T12:00:00+00:00", t1)).toBe("2024-05-01T12:00:00.001Z");
    expect(nextTimestamp("2024-05-01T09:00:00Z", t0)).toBe("2024-05-01T10:00:00Z");
    expect(nextTimestamp(undefined, t0)).toBe("2024-05-01T10:00:00Z");
    expect(nextTimestamp("garbage", t0)).toBe("2024-05-01T10:00:00Z");
  });
});
