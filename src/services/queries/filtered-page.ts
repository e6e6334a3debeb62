/**
 * One page of a keyset list, narrowed by a filter's exact test when SQL could only select a
 * superset (regexes). Every request does bounded work: it stops after ROW_BUDGET rows or
 * STEP_BUDGET regex steps and then returns what it found — possibly fewer than page_size rows,
 * even none — with a token that resumes after the last row it examined (AIP-158 allows short
 * pages; clients read until the token is empty).
 */
import type { KeysetRows, KeyValue } from "../../db/queries/records.js";
import type { Meter } from "./filter/bounded-regex.js";

export const ROW_BUDGET = 10_000;
export const STEP_BUDGET = 2_000_000;
const BATCH = 500;

export interface PageRead<T> {
  items: T[];
  /** The key to resume after, when rows may follow. */
  lastKey?: KeyValue[];
}

export type FetchRows<T> = (after: readonly KeyValue[] | undefined, limit: number) => Promise<KeysetRows<T>>;

export async function readPage<T>(
  fetch: FetchRows<T>,
  after: readonly KeyValue[] | undefined,
  limit: number,
  matches?: (item: T, meter: Meter) => boolean,
): Promise<PageRead<T>> {
  if (!matches) {
    const rows = await fetch(after, limit);
    return { items: rows.items, ...(rows.more && { lastKey: rows.keys[rows.keys.length - 1] }) };
  }
  const meter: Meter = { steps: 0 };
  const found: T[] = [];
  let foundLastKey: KeyValue[] | undefined;
  let cursor = after ? [...after] : undefined;
  let examined = 0;
  for (;;) {
    const batch = await fetch(cursor, Math.max(BATCH, limit + 1));
    for (const [i, item] of batch.items.entries()) {
      // Out of budget: resume after the last row examined (at least one row always is, so pages advance).
      if (examined > 0 && (examined >= ROW_BUDGET || meter.steps >= STEP_BUDGET))
        return { items: found, ...(cursor && { lastKey: cursor }) };
      examined++;
      if (matches(item, meter)) {
        // A match beyond the page proves another page exists.
        if (found.length === limit) return { items: found, ...(foundLastKey && { lastKey: foundLastKey }) };
        found.push(item);
        foundLastKey = batch.keys[i];
      }
      cursor = batch.keys[i];
    }
    if (!batch.more) return { items: found };
  }
}
