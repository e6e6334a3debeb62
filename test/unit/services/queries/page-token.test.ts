import { describe, expect, it } from "vitest";
import { EpochError } from "../../../../src/errors.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../../../../src/services/queries/page-token.js";

const tags: PageQuery = { list: "tags", order: "push_time desc", scope: ["library/app"] };
const TYPES = ["string", "string"] as const;

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EpochError);
    expect((e as EpochError).kind).toBe("invalid_argument");
    return (e as EpochError).reason;
  }
  throw new Error("expected an error");
}

describe("page tokens", () => {
  it("round-trip the last key through an opaque url-safe string", () => {
    const token = encodePageToken(tags, ["2024-01-01 00:00:01.000", "v1"]);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(token).not.toContain("v1"); // opaque: not the key in clear text
    expect(decodePageToken(token, tags, TYPES)).toEqual(["2024-01-01 00:00:01.000", "v1"]);
  });

  it("an empty token is the first page", () => {
    expect(decodePageToken("", tags, TYPES)).toBeUndefined();
  });

  it("are bound to their order_by, repository, filter and list", () => {
    const token = encodePageToken(tags, ["2024-01-01 00:00:01.000", "v1"]);
    expect(reasonOf(() => decodePageToken(token, { ...tags, order: "name desc" }, TYPES))).toBe("INVALID_PAGE_TOKEN");
    expect(reasonOf(() => decodePageToken(token, { ...tags, scope: ["library/other"] }, TYPES))).toBe(
      "INVALID_PAGE_TOKEN",
    );
    expect(reasonOf(() => decodePageToken(token, { ...tags, scope: ["library/app", "name==x"] }, TYPES))).toBe(
      "INVALID_PAGE_TOKEN",
    );
    expect(reasonOf(() => decodePageToken(token, { ...tags, list: "repositories" }, TYPES))).toBe("INVALID_PAGE_TOKEN");
  });

  it("reject malformed input of every kind", () => {
    const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
    const good = JSON.parse(Buffer.from(encodePageToken(tags, ["t", "n"]), "base64url").toString()) as Record<
      string,
      unknown
    >;
    const bad = [
      "not a token!",
      "%%%",
      "x".repeat(5000),
      b64("not json"),
      b64([1, 2]),
      b64(null),
      b64({ ...good, v: 2 }),
      b64({ ...good, k: ["only-one"] }),
      b64({ ...good, k: ["t", 5] }),
      b64({ ...good, k: "t,n" }),
      b64({ ...good, k: ["t", "n".repeat(600)] }),
      b64({ ...good, q: undefined }),
    ];
    for (const token of bad)
      expect(
        reasonOf(() => decodePageToken(token, tags, TYPES)),
        token.slice(0, 40),
      ).toBe("INVALID_PAGE_TOKEN");
  });

  it("check numeric keys are safe integers", () => {
    const bySize: PageQuery = { list: "tags", order: "total_size desc", scope: ["a"] };
    const types = ["number", "string"] as const;
    expect(decodePageToken(encodePageToken(bySize, [123, "x"]), bySize, types)).toEqual([123, "x"]);
    expect(reasonOf(() => decodePageToken(encodePageToken(bySize, ["123", "x"]), bySize, types))).toBe(
      "INVALID_PAGE_TOKEN",
    );
    expect(reasonOf(() => decodePageToken(encodePageToken(bySize, [2 ** 60, "x"]), bySize, types))).toBe(
      "INVALID_PAGE_TOKEN",
    );
    expect(reasonOf(() => decodePageToken(encodePageToken(bySize, [1.5, "x"]), bySize, types))).toBe(
      "INVALID_PAGE_TOKEN",
    );
  });
});
