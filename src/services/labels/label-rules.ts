/**
 * The limits of DESIGN.md §8.2, checked before any work: a key is 1–1024 bytes of printable
 * ASCII without spaces, key + value ≤ 4096 bytes (UTF-8), at most 256 labels per object.
 * Otherwise INVALID_ARGUMENT INVALID_LABEL.
 */
import { LABEL_KEY_MAX_BYTES, LABEL_PAIR_MAX_BYTES } from "../../db/entities/labels.js";
import type { Labels } from "../../db/labels/label-tables.js";
import { invalidArgument } from "../../errors.js";

export const MAX_LABELS = 256;

const invalid = (message: string) => invalidArgument(message, "INVALID_LABEL");

/** A key as a message shows it: JSON-quoted, cut at 64 characters. */
const shown = (key: string) => JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);

export function assertLabelKey(key: string): void {
  if (key.length === 0) throw invalid("a label key must not be empty");
  if (key.length > LABEL_KEY_MAX_BYTES)
    throw invalid(`label key ${shown(key)} is longer than ${LABEL_KEY_MAX_BYTES} bytes`);
  // 0x21–0x7e: printable ASCII without the space (one byte per character, so length = bytes).
  if (!/^[\x21-\x7e]+$/.test(key)) throw invalid(`label key ${shown(key)} must be printable ASCII without spaces`);
}

export function assertLabel(key: string, value: string): void {
  assertLabelKey(key);
  const bytes = key.length + Buffer.byteLength(value, "utf8");
  if (bytes > LABEL_PAIR_MAX_BYTES)
    throw invalid(`label ${shown(key)}: key and value take ${bytes} bytes, more than ${LABEL_PAIR_MAX_BYTES}`);
}

export function assertLabelCount(count: number): void {
  if (count > MAX_LABELS) throw invalid(`an object has at most ${MAX_LABELS} labels, this one would have ${count}`);
}

/** Every label of a map (e.g. CreateNamespace's, or an update's request labels). */
export function assertLabels(labels: Labels): void {
  const entries = Object.entries(labels);
  assertLabelCount(entries.length);
  for (const [key, value] of entries) assertLabel(key, value);
}
