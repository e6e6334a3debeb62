/**
 * The request fields every List RPC shares (DESIGN.md §2 input rules): page_size and order_by,
 * validated before any query runs (filters: list-filter.ts).
 */
import { REPOSITORY_SORTS, type RepositoryOrder } from "../../db/queries/repository-queries.js";
import { TAG_SORTS, type TagOrder } from "../../db/queries/tag-queries.js";
import { invalidArgument } from "../../errors.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export type { RepositoryOrder, TagOrder };
export const TAG_ORDERS = Object.keys(TAG_SORTS) as TagOrder[];
export const REPOSITORY_ORDERS = Object.keys(REPOSITORY_SORTS) as RepositoryOrder[];

/** 0 → the default; negative → INVALID_PAGE_SIZE; above the maximum → clamped (AIP-158). */
export function pageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) {
    throw invalidArgument(
      `page_size must be 0 (default ${DEFAULT_PAGE_SIZE}) or positive, got ${requested}`,
      "INVALID_PAGE_SIZE",
    );
  }
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}

/**
 * Normalizes an order_by: surrounding and repeated whitespace are insignificant, and an explicit
 * " asc" is the same as none (AIP-132). Field names stay case-sensitive.
 */
function normalizeOrderBy(orderBy: string): string {
  const text = orderBy.trim().replace(/\s+/g, " ");
  return text.endsWith(" asc") ? text.slice(0, -" asc".length) : text;
}

function parseOrder<T extends string>(orderBy: string, allowed: readonly T[], fallback: T): T {
  if (orderBy.length > 64) throw invalidArgument("order_by is too long", "INVALID_ORDER_BY");
  const normalized = normalizeOrderBy(orderBy);
  if (normalized === "") return fallback;
  if ((allowed as readonly string[]).includes(normalized)) return normalized as T;
  throw invalidArgument(
    `order_by ${JSON.stringify(orderBy)} is not supported; use one of ${allowed.map((o) => JSON.stringify(o)).join(", ")}`,
    "INVALID_ORDER_BY",
  );
}

export const parseTagOrder = (orderBy: string): TagOrder => parseOrder(orderBy, TAG_ORDERS, "name");
export const parseRepositoryOrder = (orderBy: string): RepositoryOrder =>
  parseOrder(orderBy, REPOSITORY_ORDERS, "name");
