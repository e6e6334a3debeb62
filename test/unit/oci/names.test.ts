import { describe, expect, it } from "vitest";
import {
  assertDigest,
  assertRepositoryName,
  assertTagName,
  digestHex,
  isDigest,
  isRepositoryName,
  isTagName,
  REPOSITORY_PATTERN,
} from "../../../src/oci/names.js";

describe("repository names", () => {
  it.each(["a", "library/alpine", "team/app/api", "a.b_c__d-e--f", "0", "a/b/c/d/e", "x".repeat(255)])(
    "accepts %s",
    (name) => {
      expect(isRepositoryName(name)).toBe(true);
    },
  );

  it.each([
    "",
    "A",
    "Library/alpine",
    "a/",
    "/a",
    "a//b",
    "a_",
    "_a",
    "a___b",
    "a..b",
    "a.-b",
    "a/.b",
    "a b",
    "a:b",
    "a\\b",
    "é",
    "x".repeat(256),
    "a/../b",
  ])("rejects %j", (name) => {
    expect(isRepositoryName(name)).toBe(false);
    expect(() => assertRepositoryName(name)).toThrow(
      expect.objectContaining({ kind: "invalid_argument", reason: "INVALID_NAME" }),
    );
  });

  it("never backtracks catastrophically, even without the length cap", () => {
    const hostile = [
      "a-".repeat(50_000) + "!",
      "a".repeat(100_000) + "!",
      "a_".repeat(30_000) + "_",
      ("a/".repeat(20_000) + "a.").repeat(1),
      "a" + "-".repeat(100_000),
      "a" + "--a".repeat(30_000) + "-",
    ];
    for (const s of hostile) {
      const start = performance.now();
      expect(REPOSITORY_PATTERN.test(s)).toBe(false);
      expect(isRepositoryName(s)).toBe(false);
      expect(performance.now() - start).toBeLessThan(200);
    }
  });

  it("bounds the work on a 255-char near-miss", () => {
    const s = "a-".repeat(127) + "!";
    const start = performance.now();
    for (let i = 0; i < 1000; i++) isRepositoryName(s);
    expect(performance.now() - start).toBeLessThan(500);
  });
});

describe("tag names", () => {
  it.each(["latest", "Latest", "v1.2.3", "_private", "1", "a".repeat(128), "x-y_z.w"])("accepts %s", (tag) => {
    expect(isTagName(tag)).toBe(true);
  });
  it.each(["", ".hidden", "-dash", "a/b", "a:b", "a".repeat(129), "tag with space", "ü"])("rejects %j", (tag) => {
    expect(isTagName(tag)).toBe(false);
    expect(() => assertTagName(tag)).toThrow(expect.objectContaining({ reason: "INVALID_NAME" }));
  });
});

describe("digests", () => {
  const hex = "a".repeat(64);
  it("accepts sha256 with 64 lowercase hex and extracts the hex", () => {
    expect(isDigest(`sha256:${hex}`)).toBe(true);
    expect(digestHex(`sha256:${hex}`)).toBe(hex);
  });
  it.each([
    `sha256:${"A".repeat(64)}`,
    `sha256:${hex}0`,
    `sha256:${hex.slice(1)}`,
    `sha512:${hex}`,
    hex,
    `sha256:${hex}\n`,
    "",
  ])("rejects %j", (d) => {
    expect(isDigest(d)).toBe(false);
    expect(() => assertDigest(d)).toThrow(
      expect.objectContaining({ kind: "invalid_argument", reason: "INVALID_DIGEST" }),
    );
  });
  it("keeps hostile input out of messages", () => {
    try {
      assertDigest("x".repeat(1_000_000));
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(300);
    }
  });
});
