/**
 * Epoch tokens → epoch-meta tokens (DESIGN §2): the same id, name, creator, times and hash, so
 * every 64-hex secret Epoch handed out keeps validating; scopes `pull`, `push`, `delete` (what an
 * Epoch token could do — never `service` or `admin`), no expiry, every repository.
 */
import type { EpochTokenRow } from "./epoch-rows.js";

export const ADOPTED_SCOPES = "pull,push,delete";

export interface AdoptedToken {
  id: number;
  name: string;
  tokenHash: string;
  createdBy: string;
  createdAt: Date;
  lastUsed: Date | null;
}

/** Why a row cannot become a token that validates, or undefined. */
export function tokenProblem(t: EpochTokenRow): string | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(t.tokenHash)) return "token_hash is not a SHA-256 hex digest";
  if (t.name.length > 255 || t.createdBy.length > 255) return "name or created_by is longer than 255 characters";
  return undefined;
}

export function convertEpochToken(t: EpochTokenRow, now: Date): AdoptedToken {
  return {
    id: t.id,
    name: t.name,
    // Hex from Go's hex.EncodeToString is lowercase already; the lookup hashes to lowercase.
    tokenHash: t.tokenHash.toLowerCase(),
    createdBy: t.createdBy,
    createdAt: t.createdAt !== null && t.createdAt > 0 ? new Date(t.createdAt) : now,
    lastUsed: t.lastUsed !== null && t.lastUsed > 0 ? new Date(t.lastUsed) : null,
  };
}
