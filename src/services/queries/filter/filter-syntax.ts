/**
 * containerd's filter syntax (pkg/filters), parsed into selectors:
 *
 *   filter    := selector ("," selector)*          all selectors must match
 *   selector  := fieldpath [operator value]        no operator: the field is present (non-empty)
 *   fieldpath := field ("." field)*
 *   field     := quoted | [A-Za-z][A-Za-z0-9_]*
 *   operator  := "==" | "!=" | "~="
 *   value     := quoted | [^\s,]+
 *   quoted    := "…" or '…' with backslash escapes; after ~= also /…/ or |…|
 *
 * Whitespace between tokens is ignored. The repeated `filter` request field ORs its elements.
 */
import { invalidArgument } from "../../../errors.js";

export type FilterOperator = "==" | "!=" | "~=" | "present";

export interface Selector {
  path: string[];
  op: FilterOperator;
  value: string;
}

/** One filter string: selectors that must all match. */
export type Conjunction = Selector[];

export const MAX_FILTER_LENGTH = 4096;
const MAX_SELECTORS = 32;

class FilterParser {
  private pos = 0;

  constructor(private readonly input: string) {}

  private fail(why: string): never {
    const at = Math.min(this.pos, this.input.length);
    throw invalidArgument(
      `invalid filter ${JSON.stringify(this.input.slice(0, 120))} at offset ${at}: ${why}`,
      "INVALID_FILTER",
    );
  }

  private skipSpace(): void {
    while (/\s/.test(this.input[this.pos] ?? "")) this.pos++;
  }

  private peek(): string | undefined {
    this.skipSpace();
    return this.input[this.pos];
  }

  parse(): Conjunction {
    const selectors = [this.selector()];
    while (this.peek() === ",") {
      this.pos++;
      selectors.push(this.selector());
      if (selectors.length > MAX_SELECTORS) this.fail(`more than ${MAX_SELECTORS} selectors`);
    }
    if (this.peek() !== undefined) this.fail(`unexpected ${JSON.stringify(this.input[this.pos])}`);
    return selectors;
  }

  private selector(): Selector {
    const path = [this.field()];
    while (this.peek() === ".") {
      this.pos++;
      path.push(this.field());
    }
    const next = this.peek();
    if (next === undefined || next === ",") return { path, op: "present", value: "" };
    const op = this.input.slice(this.pos, this.pos + 2);
    if (op !== "==" && op !== "!=" && op !== "~=") this.fail('expected an operator ("==", "!=" or "~=")');
    this.pos += 2;
    return { path, op, value: this.value(op === "~=") };
  }

  private field(): string {
    const c = this.peek();
    if (c === '"' || c === "'") return this.quoted(c);
    const m = /^[A-Za-z][A-Za-z0-9_]*/.exec(this.input.slice(this.pos));
    if (!m) this.fail("expected a field name");
    this.pos += m[0].length;
    return m[0];
  }

  private value(regex: boolean): string {
    const c = this.peek();
    if (c === undefined || c === ",") this.fail('expected a value (quote an empty one: "")');
    if (c === '"' || c === "'") return this.quoted(c);
    if (regex && (c === "/" || c === "|")) return this.regexQuoted(c);
    const m = /^[^\s,]+/.exec(this.input.slice(this.pos))!;
    this.pos += m[0].length;
    return m[0];
  }

  /** A "…" or '…' string with backslash escapes (\n \t \r \\ \" \' \xHH \uHHHH). */
  private quoted(quote: string): string {
    let out = "";
    for (this.pos++; ;) {
      const c = this.input[this.pos++];
      if (c === undefined || c === "\n") this.fail("quoted literal not terminated");
      if (c === quote) return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.input[this.pos++];
      const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'", "/": "/" };
      if (e !== undefined && simple[e] !== undefined) {
        out += simple[e];
      } else if (e === "x" || e === "u") {
        const digits = this.input.slice(this.pos, this.pos + (e === "x" ? 2 : 4));
        if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== (e === "x" ? 2 : 4))
          this.fail("illegal numeric escape sequence");
        out += String.fromCharCode(parseInt(digits, 16));
        this.pos += digits.length;
      } else {
        this.fail("illegal escape sequence");
      }
    }
  }

  /** /…/ or |…| after ~=: only the delimiter is escaped; other backslashes belong to the regex. */
  private regexQuoted(delimiter: string): string {
    let out = "";
    for (this.pos++; ;) {
      const c = this.input[this.pos++];
      if (c === undefined) this.fail("quoted literal not terminated");
      if (c === delimiter) return out;
      if (c === "\\" && this.input[this.pos] === delimiter) {
        out += delimiter;
        this.pos++;
      } else {
        out += c;
      }
    }
  }
}

/** Parses one filter string; "" (or only whitespace) matches everything and yields []. */
export function parseFilterString(input: string): Conjunction {
  if (input.length > MAX_FILTER_LENGTH) {
    throw invalidArgument(`a filter is longer than ${MAX_FILTER_LENGTH} characters`, "INVALID_FILTER");
  }
  if (input.trim() === "") return [];
  return new FilterParser(input).parse();
}

/** A canonical text for a selector (whitespace and quoting normalized), e.g. for page-token binding. */
export function selectorText(s: Selector): string {
  const path = s.path.map((p) => (/^[A-Za-z][A-Za-z0-9_]*$/.test(p) ? p : JSON.stringify(p))).join(".");
  return s.op === "present" ? path : `${path}${s.op}${JSON.stringify(s.value)}`;
}
