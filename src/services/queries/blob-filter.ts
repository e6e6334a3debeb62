/**
 * ListBlobs lists referenced blobs (ref_count > 0) unless its filter asks about `ref_count`
 * (DESIGN §8.4: `ref_count==0` lists the unreferenced ones, e.g. committed uploads no manifest
 * references yet). Each filter element that does not test `ref_count` gets `ref_count!=0`, so the
 * default travels through the one filter path (SQL, regex narrowing, page-token binding).
 * `ref_count` compares as a number: only `==` and `!=` with a decimal value.
 */
import { invalidArgument } from "../../errors.js";
import { parseFilterString, selectorText } from "./filter/filter-syntax.js";

const REFERENCED = "ref_count!=0";

export function blobListFilter(filter: readonly string[]): string[] {
  // No element, or an empty one (which matches everything, as elements are ORed): referenced only.
  if (filter.length === 0 || filter.some((element) => element.trim() === "")) return [REFERENCED];
  return filter.map((element) => {
    const selectors = parseFilterString(element);
    let tested = false;
    for (const s of selectors) {
      if (s.path[0] !== "ref_count") continue;
      if ((s.op !== "==" && s.op !== "!=") || !/^\d{1,15}$/.test(s.value)) {
        throw invalidArgument(
          `filter ${JSON.stringify(selectorText(s))}: ref_count takes == or != and a whole number`,
          "INVALID_FILTER",
        );
      }
      tested = true;
    }
    return tested ? element : `${element},${REFERENCED}`;
  });
}
