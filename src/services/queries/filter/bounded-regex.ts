/**
 * Regular expressions for user input (`filter` values with `~=`), in linear time: a thin wrapper
 * over `re2js`, the JavaScript port of RE2 (Go's regexp syntax and semantics), whose automata
 * never backtrack, so no input can make a match take more than time proportional to the text
 * (JS RegExp can take exponential time). Backreferences and look-ahead do not exist in RE2 and
 * are rejected at compile time, like every other syntax error, as INVALID_FILTER.
 */
import { RE2JS, RE2JSException } from "re2js";
import { invalidArgument } from "../../../errors.js";

export const MAX_PATTERN_LENGTH = 1024;

/** Counts regex work across calls, so a request can stop before its regex work grows unbounded. */
export interface Meter {
  steps: number;
}

const bad = (pattern: string, why: string) =>
  invalidArgument(`invalid regular expression ${JSON.stringify(pattern.slice(0, 80))}: ${why}`, "INVALID_FILTER");

export class BoundedRegex {
  private constructor(
    readonly source: string,
    private readonly re: RE2JS,
    /** Every match starts with this text (a `^literal` prefix), for a range scan in SQL. */
    readonly literalPrefix: string,
  ) {}

  static compile(pattern: string): BoundedRegex {
    if (pattern.length > MAX_PATTERN_LENGTH) throw bad(pattern, `longer than ${MAX_PATTERN_LENGTH} characters`);
    let re: RE2JS;
    try {
      re = RE2JS.compile(pattern);
    } catch (e) {
      if (e instanceof RE2JSException) throw bad(pattern, e.message.replace(/^error parsing regexp: /, ""));
      throw e;
    }
    return new BoundedRegex(pattern, re, anchoredLiteralPrefix(pattern));
  }

  /**
   * Whether the expression matches anywhere in `text` (Go's MatchString). The library reads each
   * character of the text a bounded number of times (test/unit/bounded-regex.test.ts counts it),
   * so the text's length is the measure of the work charged to the meter.
   */
  test(text: string, meter: Meter = { steps: 0 }): boolean {
    meter.steps += text.length + 1;
    return this.re.test(text);
  }
}

const META = new Set("\\.+*?()|[]{}^$");
/** Quantifiers that allow zero repetitions of the atom before them. */
const OPTIONAL = new Set("*?{");

/**
 * The literal text every match of an anchored pattern starts with: `^release-1\.2.*` gives
 * `release-1.2`, `^ab*` gives `a`. Deliberately conservative — "" whenever the pattern does not
 * start with `^`, has an alternation outside parentheses (`^v1|^v2`), quotes with `\Q…\E` (which
 * hides structure from the scan), sets flags first (`(?i)`), or starts with anything but plain and
 * escaped-punctuation characters. Only called on patterns
 * the library has already parsed, so brackets and escapes are well-formed.
 */
export function anchoredLiteralPrefix(pattern: string): string {
  if (!pattern.startsWith("^") || pattern.includes("\\Q") || hasTopLevelAlternation(pattern)) return "";
  const chars = Array.from(pattern);
  const atoms: string[] = [];
  let i = 1;
  for (;;) {
    const c = chars[i];
    if (c === undefined) break;
    if (c === "\\") {
      const next = chars[i + 1];
      if (next === undefined || !/^[!-/:-@[-`{-~]$/.test(next)) break; // an escaped ASCII punctuation is literal
      atoms.push(next);
      i += 2;
    } else if (META.has(c)) {
      break;
    } else {
      atoms.push(c);
      i += 1;
    }
  }
  if (OPTIONAL.has(chars[i] ?? "")) atoms.pop();
  return atoms.join("");
}

function hasTopLevelAlternation(pattern: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++; // the escaped character is never structure
    } else if (inClass) {
      if (c === "]") inClass = false;
    } else if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++; // a leading ] is a literal member
    } else if (c === "(") {
      depth++;
    } else if (c === ")") {
      depth--;
    } else if (c === "|" && depth === 0) {
      return true;
    }
  }
  return false;
}
