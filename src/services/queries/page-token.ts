/**
 * Opaque page tokens: base64url of `{"v":1,"l":list,"o":order,"q":queryHash,"k":lastKey}`.
 * A token is bound to the query that produced it — the list, its order_by, and a hash of
 * everything else that selects rows (repository, filter) — so reusing it elsewhere is an
 * INVALID_ARGUMENT rather than a silently wrong page. Tokens are not signed: a forged key is
 * only a different starting point of the same query, bound as a parameter, never SQL.
 */
import { createHash } from "node:crypto";
import type { KeyType, KeyValue } from "../../db/queries/records.js";
import { invalidArgument } from "../../errors.js";

const VERSION = 1;
/** Real tokens are ~100–400 characters; anything far longer is not one of ours. */
const MAX_TOKEN_LENGTH = 2048;
const MAX_KEY_STRING_LENGTH = 512;

export interface PageQuery {
  /** "repositories", "tags" or "blobs". */
  list: string;
  /** The normalized order_by. */
  order: string;
  /** The rest of the query that selects rows, e.g. [repository, ...normalized filters]. */
  scope: readonly string[];
  /** The id of the namespace listed: a token of one namespace is INVALID_PAGE_TOKEN in another. */
  namespace?: number;
}

interface TokenBody {
  v: number;
  l: string;
  o: string;
  q: string;
  k: KeyValue[];
}

function queryHash(query: PageQuery): string {
  return createHash("sha256")
    .update(
      JSON.stringify(
        query.namespace === undefined ? [query.list, query.scope] : [query.list, query.scope, query.namespace],
      ),
    )
    .digest("base64url")
    .slice(0, 22);
}

export function encodePageToken(query: PageQuery, lastKey: readonly KeyValue[]): string {
  const body: TokenBody = { v: VERSION, l: query.list, o: query.order, q: queryHash(query), k: [...lastKey] };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

const malformed = () =>
  invalidArgument("page_token is malformed: pass back a next_page_token unchanged", "INVALID_PAGE_TOKEN");

/**
 * The last key a token carries, checked against the query it is used with; undefined for "" (the
 * first page). Throws INVALID_PAGE_TOKEN for anything that is not a token of this query.
 */
export function decodePageToken(token: string, query: PageQuery, types: readonly KeyType[]): KeyValue[] | undefined {
  if (token === "") return undefined;
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw malformed();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw malformed();
  }
  if (!isTokenBody(body) || body.v !== VERSION) throw malformed();
  if (body.l !== query.list)
    throw invalidArgument(`page_token belongs to another list, not ${query.list}`, "INVALID_PAGE_TOKEN");
  if (body.o !== query.order) {
    throw invalidArgument(
      `page_token was issued for order_by ${JSON.stringify(body.o)}, not ${JSON.stringify(query.order)}`,
      "INVALID_PAGE_TOKEN",
    );
  }
  if (body.q !== queryHash(query)) {
    throw invalidArgument(
      "page_token was issued for a different query (namespace, repository or filter changed)",
      "INVALID_PAGE_TOKEN",
    );
  }
  if (!keyMatches(body.k, types)) throw malformed();
  return body.k;
}

function isTokenBody(value: unknown): value is TokenBody {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  return (
    typeof o.v === "number" &&
    typeof o.l === "string" &&
    typeof o.o === "string" &&
    typeof o.q === "string" &&
    Array.isArray(o.k)
  );
}

function keyMatches(key: unknown[], types: readonly KeyType[]): boolean {
  if (key.length !== types.length) return false;
  return key.every((value, i) =>
    types[i] === "number"
      ? typeof value === "number" && Number.isSafeInteger(value)
      : typeof value === "string" && value.length <= MAX_KEY_STRING_LENGTH,
  );
}
