/**
 * A repository's tag set as one value: SHA-256 of the names, sorted by code unit, one per line
 * (tag names cannot hold a newline). The sync stores it with the aggregates and compares it with
 * the catalog's, so skipping an unchanged repository needs no read of its tag rows.
 */
import { createHash } from "node:crypto";

export function tagSetHash(names: Iterable<string>): string {
  const sorted = [...names].sort();
  return createHash("sha256").update(sorted.join("\n")).digest("hex");
}
