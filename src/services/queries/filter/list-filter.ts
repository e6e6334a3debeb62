/**
 * The `filter` of a List request (containerd syntax, see filter-syntax.ts) compiled for one
 * list: `==`, `!=` and presence become SQL; `~=` runs on our linear-time regex engine, with an
 * anchored literal prefix pushed into SQL as a range. The SQL condition is then a superset of the
 * matching rows, and `matches` narrows it (see filtered-page.ts).
 *
 * `labels."key"` selectors (lists whose records carry labels) follow containerd: an absent label
 * reads as "", so `==` needs the label present, `!=` also matches rows without it, `~=` tests ""
 * for them, and the bare selector means present (even with an empty value).
 */
import type { FieldTest, FilterCondition } from "../../../db/queries/filter-sql.js";
import type { Labels } from "../../../db/labels/label-tables.js";
import { invalidArgument } from "../../../errors.js";
import { BoundedRegex, type Meter } from "./bounded-regex.js";
import { parseFilterString, selectorText, type Selector } from "./filter-syntax.js";

const MAX_ELEMENTS = 16;

export interface FilterField<R> {
  get(record: R): string;
  /** Maps a user's value to the stored one (e.g. ARTIFACT_KIND_SNAPSHOT → SNAPSHOT). */
  normalize?(value: string): string;
}

export type FilterFields<R> = Readonly<Record<string, FilterField<R>>>;

export interface ListFilter<R> {
  /** Canonical text of the filter, bound into page tokens. */
  key: string[];
  /** Evaluated in SQL: exactly the matching rows, or a superset of them when `matches` is set. */
  condition: FilterCondition;
  /** The exact test, for filters SQL can only approximate (regexes). */
  matches?: (record: R, meter: Meter) => boolean;
}

interface CompiledSelector<R> {
  sql?: FieldTest;
  test(record: R, meter: Meter): boolean;
}

/** Stored kinds are the enum names without their prefix; "" is unclassified. */
export function normalizeKind(value: string): string {
  const name = value.startsWith("ARTIFACT_KIND_") ? value.slice("ARTIFACT_KIND_".length) : value;
  return name === "UNSPECIFIED" ? "" : name;
}

/** Undefined when the filter selects everything (no elements, or an empty one: elements are ORed). */
export function compileListFilter<R>(
  filter: readonly string[],
  fields: FilterFields<R>,
  /** The record's labels, for lists that have them; without it `labels."…"` is an unknown field. */
  labelsOf?: (record: R) => Labels,
): ListFilter<R> | undefined {
  const conjunctions = parseElements(filter);
  if (!conjunctions) return undefined;
  const compiled = conjunctions.map((selectors) => selectors.map((s) => compileSelector(s, fields, labelsOf)));
  const exact = conjunctions.every((selectors) => selectors.every((s) => s.op !== "~="));
  return {
    key: conjunctions.map((selectors) => selectors.map(selectorText).join(",")),
    condition: compiled.map((branch) => branch.flatMap((s) => (s.sql ? [s.sql] : []))),
    ...(!exact && {
      matches: (record: R, meter: Meter) => compiled.some((branch) => branch.every((s) => s.test(record, meter))),
    }),
  };
}

/**
 * The whole filter as an in-memory test, for records that never meet SQL (the event stream);
 * undefined when it selects everything.
 */
export function compileRecordFilter<R>(
  filter: readonly string[],
  fields: FilterFields<R>,
): ((record: R) => boolean) | undefined {
  const conjunctions = parseElements(filter);
  if (!conjunctions) return undefined;
  const compiled = conjunctions.map((selectors) => selectors.map((s) => compileSelector(s, fields)));
  return (record) => {
    const meter: Meter = { steps: 0 };
    return compiled.some((branch) => branch.every((s) => s.test(record, meter)));
  };
}

/** The parsed elements; undefined when the filter selects everything (no elements, or an empty one: elements are ORed). */
function parseElements(filter: readonly string[]): Selector[][] | undefined {
  if (filter.length === 0 || filter.some((element) => element.trim() === "")) return undefined;
  if (filter.length > MAX_ELEMENTS) throw invalidArgument(`at most ${MAX_ELEMENTS} filter elements`, "INVALID_FILTER");
  return filter.map(parseFilterString);
}

function compileSelector<R>(
  s: Selector,
  fields: FilterFields<R>,
  labelsOf?: (record: R) => Labels,
): CompiledSelector<R> {
  const [name, ...rest] = s.path;
  if (name === "labels" && labelsOf) return compileLabelSelector(s, labelsOf);
  const field = Object.hasOwn(fields, name!) ? fields[name!] : undefined;
  if (!field || rest.length > 0) {
    throw invalidArgument(
      `unknown filter field ${JSON.stringify(s.path.join("."))}; use one of ${[...Object.keys(fields), ...(labelsOf ? ['labels."key"'] : [])].join(", ")}`,
      "INVALID_FILTER",
    );
  }
  const get = field.get;
  switch (s.op) {
    case "present":
      return { sql: { field: name!, op: "nonEmpty" }, test: (r) => get(r) !== "" };
    case "==":
    case "!=": {
      const value = field.normalize ? field.normalize(s.value) : s.value;
      const equal = s.op === "==";
      return { sql: { field: name!, op: equal ? "eq" : "ne", value }, test: (r) => (get(r) === value) === equal };
    }
    case "~=": {
      const re = BoundedRegex.compile(s.value);
      // Only printable ASCII prefixes become a range (the upper bound is "last character + 1").
      const prefix = /^[\x20-\x7e]+$/.test(re.literalPrefix) ? re.literalPrefix : "";
      return {
        ...(prefix && { sql: { field: name!, op: "prefix", value: prefix } }),
        test: (r, meter) => re.test(get(r), meter),
      };
    }
  }
}

/** A label key in a filter: what a stored key can be (label-rules.ts), else no row could match. */
const LABEL_KEY = /^[\x21-\x7e]{1,1024}$/;

function compileLabelSelector<R>(s: Selector, labelsOf: (record: R) => Labels): CompiledSelector<R> {
  const key = s.path[1];
  if (s.path.length !== 2 || key === undefined || !LABEL_KEY.test(key)) {
    throw invalidArgument(
      `filter field ${JSON.stringify(s.path.join("."))}: write labels."key" with a key of 1-1024 printable ASCII characters without spaces`,
      "INVALID_FILTER",
    );
  }
  const valueOf = (r: R) => (Object.hasOwn(labelsOf(r), key) ? labelsOf(r)[key] : undefined);
  switch (s.op) {
    case "present":
      return { sql: { field: "labels", op: "labelPresent", key }, test: (r) => valueOf(r) !== undefined };
    case "==":
      return {
        sql: { field: "labels", op: "labelEq", key, value: s.value },
        test: (r) => valueOf(r) === s.value,
      };
    case "!=":
      return {
        sql:
          s.value === ""
            ? { field: "labels", op: "labelNonEmpty", key }
            : { field: "labels", op: "labelNe", key, value: s.value },
        test: (r) => (valueOf(r) ?? "") !== s.value,
      };
    case "~=": {
      const re = BoundedRegex.compile(s.value);
      // Rows without the label test "": only a regex that rejects "" lets SQL keep labelled rows alone.
      const matchesEmpty = re.test("", { steps: 0 });
      return {
        ...(!matchesEmpty && { sql: { field: "labels", op: "labelPresent", key } }),
        test: (r, meter) => re.test(valueOf(r) ?? "", meter),
      };
    }
  }
}
