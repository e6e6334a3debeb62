/**
 * The rules behind a token's repository bound: glob coverage for CreateToken (sound: a covered
 * glob never matches a name its cover does not; checked against random names), the "never wider"
 * check on scopes, globs and expiry, `created_by` of an authenticated caller, and the failures a
 * bound caller sees in GetSyncStatus.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEpochError } from "../../../../src/errors.js";
import type { SyncStatus } from "../../../../src/services/sync/sync-service.js";
import { statusWithin } from "../../../../src/services/sync/status-view.js";
import { repositoryBound, requireRepository, UNBOUNDED } from "../../../../src/services/tokens/repository-bound.js";
import { matchesGlob, patternCovers } from "../../../../src/services/tokens/scopes.js";
import { assertNotWider, issuedBy } from "../../../../src/services/tokens/token-issuer.js";
import type { TokenRecord } from "../../../../src/services/tokens/token-lookup.js";

function failure(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isEpochError(e)) return `${e.kind}/${e.reason}`;
    throw e;
  }
  return undefined;
}

describe("patternCovers", () => {
  it.each([
    ["library/*", "library/app", true],
    ["library/*", "library/*", true],
    ["library/*", "library/a*b", true],
    ["library/*", "library/*/cache", true],
    ["*", "anything/*", true],
    ["*/api", "team/*/api", true],
    ["team/*/api", "team/x/*/api", true],
    ["library/app", "library/app", true],
    ["library/*", "library*", false],
    ["library/*", "*", false],
    ["library/app", "library/*", false],
    ["team/*/api", "team/*", false],
    ["*/api", "*/api*", false],
    ["a*b", "a*", false],
  ])("%j covers %j: %s", (outer, inner, expected) => {
    expect(patternCovers(outer, inner)).toBe(expected);
  });

  it("is sound: a name matched by a covered glob is matched by its cover", () => {
    const glob = fc.stringMatching(/^[ab/*]{0,7}$/);
    const name = fc.stringMatching(/^[ab/]{0,9}$/);
    fc.assert(
      fc.property(glob, glob, fc.array(name, { maxLength: 30 }), (outer, inner, names) => {
        if (!patternCovers(outer, inner)) return;
        for (const n of names) if (matchesGlob(inner, n)) expect(matchesGlob(outer, n)).toBe(true);
      }),
      { seed: 14, numRuns: 3000 },
    );
  });
});

describe("assertNotWider", () => {
  const issuer = (fields: Partial<TokenRecord>): TokenRecord => ({
    id: 7,
    name: "caller",
    namespaceId: 1,
    scopes: ["admin"],
    repositories: [],
    ...fields,
  });
  const check = (from: TokenRecord, scopes: string[], repositories: string[], expiresAt: Date | null = null) =>
    failure(() => assertNotWider(from, { scopes: scopes as never, repositories, expiresAt }));
  const DENIED = "permission_denied/PERMISSION_DENIED";

  it("scopes: a subset of the caller's; admin covers every scope", () => {
    expect(check(issuer({}), ["admin", "pull", "service"], [])).toBeUndefined();
    expect(check(issuer({ scopes: ["service", "pull"] }), ["pull"], [])).toBeUndefined();
    expect(check(issuer({ scopes: ["service", "pull"] }), ["push"], [])).toBe(DENIED);
    expect(check(issuer({ scopes: ["service"] }), ["admin"], [])).toBe(DENIED);
  });

  it("globs: each covered by one of the caller's; none (= all) only from an unbounded caller", () => {
    const bounded = issuer({ repositories: ["library/*", "ops/app"] });
    expect(check(bounded, ["pull"], ["library/a", "ops/app", "library/*/x"])).toBeUndefined();
    expect(check(bounded, ["pull"], [])).toBe(DENIED);
    expect(check(bounded, ["pull"], ["library/a", "ops/*"])).toBe(DENIED);
    expect(check(issuer({}), ["pull"], ["*"])).toBeUndefined();
  });

  it("expiry: no later than the caller's; no expiry only from a caller without one", () => {
    const until = new Date(Date.UTC(2030, 0, 1));
    const expiring = issuer({ expireTime: until });
    expect(check(expiring, ["pull"], [], until)).toBeUndefined();
    expect(check(expiring, ["pull"], [], new Date(until.getTime() + 1))).toBe(DENIED);
    expect(check(expiring, ["pull"], [], null)).toBe(DENIED);
    expect(check(issuer({}), ["pull"], [], null)).toBeUndefined();
  });

  it("created_by names the caller and fits 255 characters", () => {
    expect(issuedBy(issuer({}))).toBe("token:7/caller");
    expect([...issuedBy(issuer({ name: "é".repeat(255) }))].length).toBe(255);
  });
});

describe("a caller's repository bound", () => {
  it("decides from the name alone, after the name rules", () => {
    const bound = repositoryBound(["library/*"]);
    expect(failure(() => requireRepository(bound, "library/app"))).toBeUndefined();
    expect(failure(() => requireRepository(bound, "team/app"))).toBe("permission_denied/PERMISSION_DENIED");
    expect(failure(() => requireRepository(bound, "Not/Valid"))).toBe("invalid_argument/INVALID_NAME");
    expect(repositoryBound(["*"])).toBe(UNBOUNDED);
  });

  it("GetSyncStatus shows a bound caller only the failures inside its bound", () => {
    const failures = ["library/app", "team/api"].map((repository) => ({
      repository,
      tag: "v1",
      reason: "MANIFEST_MISSING" as const,
      message: "gone",
    }));
    const run = { failures, failureCount: 2 } as unknown as NonNullable<SyncStatus["last"]>;
    const seen = statusWithin({ last: run }, repositoryBound(["library/*"]));
    expect(seen.last?.failures.map((f) => f.repository)).toEqual(["library/app"]);
    expect(statusWithin({ last: run }, UNBOUNDED).last?.failures).toHaveLength(2);
  });
});
