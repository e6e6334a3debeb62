/**
 * update_mask semantics of DESIGN.md §8.2 (AIP-134 style): the path `labels` replaces every
 * label with the request's; `labels.<key>` (everything after the first `labels.` is the key,
 * dots included) sets that key to the request's value, or deletes it when the request's labels
 * do not have it; an empty mask is `labels`. Other paths are INVALID_LABEL: labels are the only
 * field these Update RPCs change.
 */
import type { LabelChange } from "../../db/labels/label-store.js";
import type { Labels } from "../../db/labels/label-tables.js";
import { invalidArgument } from "../../errors.js";
import { assertLabelCount, assertLabelKey, assertLabels } from "./label-rules.js";

export const MAX_MASK_PATHS = 1024;

export interface LabelUpdate {
  /** true: the result is exactly `labels`. */
  replace: boolean;
  labels: Labels;
  /** Keys named by `labels.<key>` paths (replace = false). */
  keys: string[];
}

/** Validates a request (labels and mask) before any work and says what it asks for. */
export function parseLabelUpdate(labels: Labels, updateMask: readonly string[]): LabelUpdate {
  assertLabels(labels);
  if (updateMask.length > MAX_MASK_PATHS)
    throw invalidArgument(`update_mask has more than ${MAX_MASK_PATHS} paths`, "INVALID_LABEL");
  if (updateMask.length === 0 || updateMask.includes("labels")) return { replace: true, labels, keys: [] };
  const keys = updateMask.map((path) => {
    if (!path.startsWith("labels.")) {
      throw invalidArgument(
        `update_mask path ${JSON.stringify(path.slice(0, 80))} is not "labels" or "labels.<key>"`,
        "INVALID_LABEL",
      );
    }
    const key = path.slice("labels.".length);
    assertLabelKey(key);
    return key;
  });
  return { replace: false, labels, keys: [...new Set(keys)] };
}

/** The change that turns `current` into the update's result; throws when the result has too many labels. */
export function planLabelChange(current: Labels, update: LabelUpdate): { change: LabelChange; result: Labels } {
  const result: Labels = update.replace ? { ...update.labels } : { ...current };
  if (!update.replace) {
    for (const key of update.keys) {
      if (Object.hasOwn(update.labels, key)) result[key] = update.labels[key]!;
      else delete result[key];
    }
  }
  assertLabelCount(Object.keys(result).length);
  const set: Labels = {};
  for (const [key, value] of Object.entries(result)) if (current[key] !== value) set[key] = value;
  const remove = Object.keys(current).filter((key) => !Object.hasOwn(result, key));
  return { change: { set, remove }, result: sortedLabels(result) };
}

export function sortedLabels(labels: Labels): Labels {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
