/**
 * CreateToken on behalf of an authenticated caller (DESIGN §2): a token never mints a token wider
 * than itself — its scopes are a subset of the caller's (`admin` covers every scope), each of its
 * repository globs is covered by one of the caller's (scopes.ts `patternCovers`; a caller without
 * globs covers all, a token without globs is covered only by such a caller), and it expires no
 * later than the caller. Its `created_by` is the caller, whatever the request said.
 */
import { permissionDenied } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";
import { patternCovers, type Scope } from "./scopes.js";
import { MAX_TEXT_LENGTH } from "./token-input.js";
import type { TokenRecord } from "./token-lookup.js";

export interface RequestedToken {
  scopes: readonly Scope[];
  repositories: readonly string[];
  /** null = no expiry. */
  expiresAt: Date | null;
}

/** PERMISSION_DENIED naming the first way `requested` would be wider than `issuer`. */
export function assertNotWider(issuer: TokenRecord, requested: RequestedToken): void {
  if (!issuer.scopes.includes("admin")) {
    const extra = requested.scopes.find((s) => !issuer.scopes.includes(s));
    if (extra) throw permissionDenied(`cannot grant scope "${extra}": the calling token does not have it`);
  }
  if (issuer.repositories.length > 0) {
    if (requested.repositories.length === 0)
      throw permissionDenied("the calling token is limited to some repositories: list the new token's repositories");
    const uncovered = requested.repositories.find((p) => !issuer.repositories.some((o) => patternCovers(o, p)));
    if (uncovered !== undefined)
      throw permissionDenied(
        `repository pattern ${quoteForMessage(uncovered)} is not covered by one of the calling token's patterns`,
      );
  }
  const limit = issuer.expireTime;
  if (limit && (requested.expiresAt === null || requested.expiresAt > limit))
    throw permissionDenied(`the new token must expire no later than the calling token (${limit.toISOString()})`);
}

/**
 * Whether a caller limited to some repositories may see or delete `token`: only tokens it could
 * have minted itself, i.e. each of whose globs one of the caller's covers. A caller without limits
 * reaches every token of its namespace.
 */
export function reachesToken(issuer: TokenRecord | undefined, token: { repositories: readonly string[] }): boolean {
  if (!issuer || issuer.repositories.length === 0) return true;
  if (token.repositories.length === 0) return false;
  return token.repositories.every((p) => issuer.repositories.some((o) => patternCovers(o, p)));
}

/** `token:<id>/<name>`, the name shortened so the whole fits created_by's 255 characters. */
export function issuedBy(issuer: TokenRecord): string {
  const prefix = `token:${issuer.id}/`;
  return prefix + [...issuer.name].slice(0, MAX_TEXT_LENGTH - prefix.length).join("");
}
