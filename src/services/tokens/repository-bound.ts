/**
 * A caller's repository bound (DESIGN §2 "API authentication"): the `repositories` globs of the
 * token that authenticated the call bound every call it makes, not only ValidateToken. Lists
 * show only repositories inside the bound (and their tags and blobs); a call naming a repository
 * outside it is PERMISSION_DENIED, decided from the name alone, so the answer never tells whether
 * such a repository exists. A call without a token (authentication off) is unbounded.
 */
import { permissionDenied } from "../../errors.js";
import { assertRepositoryName, quoteForMessage } from "../../oci/names.js";
import { repositoryMatcher } from "./scopes.js";

export interface RepositoryBound {
  /** The token's globs; empty = every repository. */
  readonly patterns: readonly string[];
  /** Whether `repository` is inside the bound. */
  covers(repository: string): boolean;
}

export const UNBOUNDED: RepositoryBound = Object.freeze({ patterns: Object.freeze([]), covers: () => true });

/** The bound of a token limited to `patterns`; a `*` among them is the same as none. */
export function repositoryBound(patterns: readonly string[]): RepositoryBound {
  if (patterns.length === 0 || patterns.includes("*")) return UNBOUNDED;
  return { patterns, covers: repositoryMatcher(patterns) };
}

export const isUnbounded = (bound: RepositoryBound): boolean => bound.patterns.length === 0;

/** A valid repository name inside the bound, or INVALID_NAME / PERMISSION_DENIED. */
export function requireRepository(bound: RepositoryBound, repository: string): void {
  assertRepositoryName(repository);
  if (!bound.covers(repository)) {
    throw permissionDenied(
      `repository ${quoteForMessage(repository)} is outside the repositories this token is limited to`,
    );
  }
}

/**
 * For calls that act on, or report over, the whole registry (a sync, namespace-wide statistics):
 * a token limited to some repositories may not make them.
 */
export function requireUnbounded(bound: RepositoryBound, what: string): void {
  if (!isUnbounded(bound)) {
    throw permissionDenied(`${what} covers every repository: it needs a token without repository limits`);
  }
}
