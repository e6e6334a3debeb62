import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEpochError } from "../../../../src/errors.js";
import {
  coversRepository,
  grantsAction,
  matchesGlob,
  normalizeRepositoryPatterns,
  normalizeScopes,
  parseAction,
  parseStoredScopes,
} from "../../../../src/services/tokens/scopes.js";

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isEpochError(e)) return `${e.kind}/${e.reason}`;
    throw e;
  }
  return undefined;
}

/** The obvious exponential reference, for short inputs only. */
function referenceMatch(pattern: string, name: string): boolean {
  if (pattern === "") return name === "";
  if (pattern[0] === "*") {
    for (let i = 0; i <= name.length; i++) if (referenceMatch(pattern.slice(1), name.slice(i))) return true;
    return false;
  }
  return name[0] === pattern[0] && referenceMatch(pattern.slice(1), name.slice(1));
}

describe("scopes", () => {
  it("default to pull, fold duplicates, keep a canonical order, refuse unknown ones", () => {
    expect(normalizeScopes([])).toEqual(["pull"]);
    expect(normalizeScopes(["admin", "pull", "pull", "push"])).toEqual(["pull", "push", "admin"]);
    expect(reasonOf(() => normalizeScopes(["pull", "write"]))).toBe("invalid_argument/INVALID_ARGUMENT");
    expect(reasonOf(() => normalizeScopes(["Pull"]))).toBe("invalid_argument/INVALID_ARGUMENT");
    expect(parseStoredScopes("pull,push,future")).toEqual(["pull", "push"]);
  });

  it("are independent; admin grants every action; an empty action asks only validity", () => {
    expect(grantsAction(["push"], "pull")).toBe(false);
    expect(grantsAction(["pull"], "push")).toBe(false);
    expect(grantsAction(["pull"], "delete")).toBe(false);
    expect(grantsAction(["delete"], "delete")).toBe(true);
    expect(grantsAction(["service"], "pull")).toBe(false);
    expect(grantsAction(["admin"], "pull")).toBe(true);
    expect(grantsAction(["admin"], "push")).toBe(true);
    expect(grantsAction(["admin"], "delete")).toBe(true);
    expect(grantsAction(["service"], "")).toBe(true);
  });

  it("accept only pull, push, delete or empty as an action", () => {
    expect(parseAction("")).toBe("");
    expect(parseAction("pull")).toBe("pull");
    expect(reasonOf(() => parseAction("admin"))).toBe("invalid_argument/INVALID_ARGUMENT");
    expect(reasonOf(() => parseAction("PULL"))).toBe("invalid_argument/INVALID_ARGUMENT");
    expect(reasonOf(() => parseAction("*"))).toBe("invalid_argument/INVALID_ARGUMENT");
  });
});

describe("repository globs", () => {
  it("match * across slashes and nothing else as a wildcard", () => {
    expect(matchesGlob("team/*", "team/a")).toBe(true);
    expect(matchesGlob("team/*", "team/a/b")).toBe(true);
    expect(matchesGlob("team/*", "team")).toBe(false);
    expect(matchesGlob("team/*", "teams/a")).toBe(false);
    expect(matchesGlob("*", "anything/at/all")).toBe(true);
    expect(matchesGlob("*/base", "a/b/base")).toBe(true);
    expect(matchesGlob("a*b*c", "abc")).toBe(true);
    expect(matchesGlob("a*b*c", "aXbYc")).toBe(true);
    expect(matchesGlob("a*b*c", "acb")).toBe(false);
    expect(matchesGlob("ab*ba", "aba")).toBe(false);
    expect(matchesGlob("ab*ba", "abba")).toBe(true);
    expect(matchesGlob("exact", "exact")).toBe(true);
    expect(matchesGlob("exact", "exactly")).toBe(false);
    // '?', '[' and '.' are literal characters, not wildcards.
    expect(matchesGlob("a.c", "abc")).toBe(false);
    expect(matchesGlob("a?c", "abc")).toBe(false);
    expect(matchesGlob("[ab]", "a")).toBe(false);
  });

  it("agree with the reference matcher on random inputs", () => {
    const chars = fc.constantFrom("a", "b", "/", "*");
    fc.assert(
      fc.property(
        fc.string({ unit: chars, maxLength: 8 }),
        fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 10 }),
        (p, n) => {
          expect(matchesGlob(p, n)).toBe(referenceMatch(p, n));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it("do bounded work on patterns that make backtracking matchers explode", () => {
    // A backtracking matcher retries every split of the a-run for every piece before failing on "c".
    const pattern = `${"*a".repeat(100)}*c*b`;
    const name = `${"a".repeat(250)}b`;
    const counter = { calls: 0 };
    const original = String.prototype.indexOf;
    String.prototype.indexOf = function (this: string, ...args: Parameters<typeof original>) {
      counter.calls++;
      return original.apply(this, args);
    };
    try {
      expect(matchesGlob(pattern, name)).toBe(false);
    } finally {
      String.prototype.indexOf = original;
    }
    // One search per literal piece at most: no backtracking.
    expect(counter.calls).toBeGreaterThan(0);
    expect(counter.calls).toBeLessThanOrEqual(101);
  });

  it("cover every repository when the list is empty", () => {
    expect(coversRepository([], "any/thing")).toBe(true);
    expect(coversRepository(["team/*", "base"], "base")).toBe(true);
    expect(coversRepository(["team/*", "base"], "other")).toBe(false);
  });

  it("are validated on create", () => {
    expect(normalizeRepositoryPatterns(["team/*", "team/*", "base"])).toEqual(["team/*", "base"]);
    expect(reasonOf(() => normalizeRepositoryPatterns([""]))).toBe("invalid_argument/INVALID_NAME");
    expect(reasonOf(() => normalizeRepositoryPatterns(["Team/*"]))).toBe("invalid_argument/INVALID_NAME");
    expect(reasonOf(() => normalizeRepositoryPatterns(["team/?"]))).toBe("invalid_argument/INVALID_NAME");
    expect(reasonOf(() => normalizeRepositoryPatterns(["a".repeat(256)]))).toBe("invalid_argument/INVALID_NAME");
    expect(reasonOf(() => normalizeRepositoryPatterns(Array.from({ length: 101 }, (_, i) => `r${i}`)))).toBe(
      "invalid_argument/INVALID_NAME",
    );
  });
});
