/**
 * The narrow view of the token store that API authentication needs (grpc/auth.ts). The token
 * service implements it over its cache, so authenticating a call costs what ValidateToken costs.
 */

export interface TokenRecord {
  id: number;
  name: string;
  /** The namespace the token belongs to: it authorises calls there (and, for an admin of `default`, everywhere). */
  namespaceId: number;
  /** Scopes as stored: any of "pull", "push", "delete", "service", "admin". */
  scopes: readonly string[];
  /** Repository globs that bound every call the token makes; empty = every repository. */
  repositories: readonly string[];
  /** Undefined = no expiry. */
  expireTime?: Date | undefined;
}

export interface TokenLookup {
  /**
   * The token whose secret this is, or null when the secret is unknown, malformed or expired.
   * Throws an `unavailable` EpochError when it cannot tell (database unreachable, stale cache).
   */
  lookup(secret: string): Promise<TokenRecord | null>;
}
