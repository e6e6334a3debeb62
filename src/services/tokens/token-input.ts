/**
 * Input rules of the token RPCs (DESIGN §2): CreateToken's fields and ListTokens' page tokens
 * (page sizes follow the rule all List RPCs share, list-options.ts). Checked before any database work.
 */
import { invalidArgument } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../queries/page-token.js";
import { normalizeRepositoryPatterns, normalizeScopes, type Scope } from "./scopes.js";

export interface CreateTokenInput {
  name: string;
  createdBy?: string;
  /** Empty or absent = ["pull"]. */
  scopes?: readonly string[];
  /** Glob patterns; empty = every repository. */
  repositories?: readonly string[];
  /** Absent or 0 = no expiry. */
  ttlMs?: number;
}

export interface ValidTokenInput {
  name: string;
  createdBy: string;
  scopes: Scope[];
  repositories: string[];
  ttlMs: number;
}

export const MAX_TEXT_LENGTH = 255;
/** Ten years of 365.25 days. */
export const MAX_TTL_MS = 10 * 365.25 * 24 * 3_600_000;

// Printable: no control, format, surrogate, private-use or unassigned code points, no line or
// paragraph separators (they would forge lines in listings and logs, or hide text).
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

function checkText(field: string, value: string, minLength: number): string {
  // UTF-16 length bounds the work before counting code points (MariaDB counts those too).
  const tooLong = value.length > 2 * MAX_TEXT_LENGTH || [...value].length > MAX_TEXT_LENGTH;
  if (tooLong || value.length < minLength || UNPRINTABLE.test(value)) {
    const size = minLength > 0 ? `1–${MAX_TEXT_LENGTH}` : `at most ${MAX_TEXT_LENGTH}`;
    throw invalidArgument(`${field} must be ${size} printable characters (got ${quoteForMessage(value, 40)})`);
  }
  return value;
}

export function validateCreateInput(input: CreateTokenInput): ValidTokenInput {
  const ttlMs = input.ttlMs ?? 0;
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw invalidArgument("ttl must not be negative (unset or 0 = no expiry)");
  if (ttlMs > MAX_TTL_MS) throw invalidArgument("ttl must be at most 10 years");
  return {
    name: checkText("name", input.name, 1),
    createdBy: checkText("created_by", input.createdBy ?? "", 0),
    scopes: normalizeScopes(input.scopes ?? []),
    repositories: normalizeRepositoryPatterns(input.repositories ?? []),
    ttlMs,
  };
}

// ListTokens uses the API's one page-token format (page-token.ts), bound to this listing in
// its namespace (a token of another namespace's listing is INVALID_PAGE_TOKEN).
const tokenList = (namespaceId: number | undefined): PageQuery => ({
  list: "tokens",
  order: "id",
  scope: [],
  ...(namespaceId !== undefined && { namespace: namespaceId }),
});

/** Opaque to callers: the listing it belongs to and the last id returned. */
export function encodeTokenPageToken(lastId: number, namespaceId?: number): string {
  return encodePageToken(tokenList(namespaceId), [lastId]);
}

/** The id to continue after; 0 for "" (the first page). Throws INVALID_PAGE_TOKEN. */
export function decodeTokenPageToken(pageToken: string, namespaceId?: number): number {
  const key = decodePageToken(pageToken, tokenList(namespaceId), ["number"]);
  return key === undefined ? 0 : (key[0] as number);
}
