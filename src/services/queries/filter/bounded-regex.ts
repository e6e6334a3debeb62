/**
 * Regular expressions for user input (`filter` values with `~=`), in linear time: the pattern is
 * compiled to a Thompson NFA and run Pike-style, as RE2 and Go's regexp do, so no input can make
 * it backtrack exponentially (JS RegExp can). The cost of one match is at most
 * text length × program size, and a `meter` lets callers cap the work of a whole request.
 *
 * Syntax (Go/RE2 subset): literals, `.`, classes `[a-z]` `[^…]`, `\d \w \s` (and negations),
 * escapes, `^ $`, groups `( )` `(?: )`, `|`, `* + ? {n} {n,} {n,m}` (lazy `?` accepted; it
 * does not change whether a string matches), and a leading `(?i)`. Backreferences and
 * look-around have no linear-time implementation and are rejected.
 */
import { invalidArgument } from "../../../errors.js";

export const MAX_PATTERN_LENGTH = 1024;
const MAX_REPEAT = 100;
const MAX_PROGRAM = 2000;

type CharTest = (c: number) => boolean;

type Node =
  | { t: "char"; test: CharTest; literal?: number }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "repeat"; node: Node; min: number; max: number }
  | { t: "bol" }
  | { t: "eol" };

type Inst =
  | { op: "char"; test: CharTest }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; x: number }
  | { op: "bol" }
  | { op: "eol" }
  | { op: "match" };

/** Counts VM steps across calls, so a request can stop before its regex work grows unbounded. */
export interface Meter {
  steps: number;
}

const bad = (pattern: string, why: string) =>
  invalidArgument(`invalid regular expression ${JSON.stringify(pattern.slice(0, 80))}: ${why}`, "INVALID_FILTER");

const isDigit: CharTest = (c) => c >= 48 && c <= 57;
const isWord: CharTest = (c) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isSpace: CharTest = (c) => c === 32 || (c >= 9 && c <= 13);
const not =
  (f: CharTest): CharTest =>
  (c) =>
    !f(c);
/** (?i) folds ASCII letters only: names, digests and media types are ASCII. */
const caseless =
  (f: CharTest): CharTest =>
  (c) =>
    f(c) || (c >= 65 && c <= 90 && f(c + 32)) || (c >= 97 && c <= 122 && f(c - 32));

class Parser {
  private pos = 0;
  readonly caseInsensitive: boolean;
  private readonly cps: number[];

  constructor(private readonly pattern: string) {
    let text = pattern;
    this.caseInsensitive = text.startsWith("(?i)");
    if (this.caseInsensitive) text = text.slice(4);
    this.cps = Array.from(text, (ch) => ch.codePointAt(0)!);
  }

  parse(): Node {
    const node = this.alternation();
    if (this.pos < this.cps.length) throw bad(this.pattern, "unexpected )");
    return node;
  }

  private peek(): number | undefined {
    return this.cps[this.pos];
  }

  private alternation(): Node {
    const items = [this.concatenation()];
    while (this.peek() === 0x7c /* | */) {
      this.pos++;
      items.push(this.concatenation());
    }
    return items.length === 1 ? items[0]! : { t: "alt", items };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== 0x7c && c !== 0x29; c = this.peek())
      items.push(this.repetition());
    return items.length === 1 ? items[0]! : { t: "cat", items };
  }

  private repetition(): Node {
    let node = this.atom();
    let quantified = false;
    for (;;) {
      const c = this.peek();
      let min: number;
      let max: number;
      if (c === 0x2a /* * */) [min, max] = [0, Infinity];
      else if (c === 0x2b /* + */) [min, max] = [1, Infinity];
      else if (c === 0x3f /* ? */) [min, max] = [0, 1];
      else {
        const counted = c === 0x7b /* { */ ? this.braces() : undefined;
        if (!counted) return node;
        [min, max] = counted.range;
        this.pos = counted.end - 1;
      }
      if (quantified) throw bad(this.pattern, "nested repetition operator");
      this.pos++;
      if (this.peek() === 0x3f) this.pos++; // lazy: same set of matching strings
      if (node.t === "bol" || node.t === "eol") throw bad(this.pattern, "repetition of an anchor");
      node = { t: "repeat", node, min, max };
      quantified = true;
    }
  }

  /** `{n}`, `{n,}`, `{n,m}` at the cursor, or undefined (then `{` is a literal, as in Go). */
  private braces(): { range: [number, number]; end: number } | undefined {
    const rest = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 16));
    const m = /^\{(\d+)(,(\d*))?\}/.exec(rest);
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT))
      throw bad(this.pattern, `repeat count above ${MAX_REPEAT}`);
    if (max < min) throw bad(this.pattern, "invalid repeat count");
    return { range: [min, max], end: this.pos + m[0].length };
  }

  private atom(): Node {
    const c = this.cps[this.pos++]!;
    switch (c) {
      case 0x28 /* ( */: {
        if (this.peek() === 0x3f /* ? */) {
          if (this.cps[this.pos + 1] !== 0x3a /* : */)
            throw bad(this.pattern, "only (?:…) groups and a leading (?i) are supported");
          this.pos += 2;
        }
        const inner = this.alternation();
        if (this.cps[this.pos++] !== 0x29) throw bad(this.pattern, "missing )");
        return inner;
      }
      case 0x5b /* [ */:
        return this.charClass();
      case 0x2e /* . */:
        return { t: "char", test: (x) => x !== 10 };
      case 0x5e /* ^ */:
        return { t: "bol" };
      case 0x24 /* $ */:
        return { t: "eol" };
      case 0x5c /* \ */:
        return this.escape();
      case 0x2a:
      case 0x2b:
      case 0x3f:
        throw bad(this.pattern, "missing argument to repetition operator");
      default:
        return this.literal(c);
    }
  }

  private literal(c: number): Node {
    return this.caseInsensitive
      ? { t: "char", test: caseless((x) => x === c) }
      : { t: "char", test: (x) => x === c, literal: c };
  }

  private escape(): Node {
    const e = this.escapeValue(false);
    if (e.anchor) return { t: e.anchor };
    if (e.test) return { t: "char", test: e.test };
    return this.literal(e.cp!);
  }

  /** After a backslash: a class shorthand, an anchor, or one code point (control, hex, punctuation). */
  private escapeValue(inClass: boolean): { cp?: number; test?: CharTest; anchor?: "bol" | "eol" } {
    const c = this.cps[this.pos++];
    if (c === undefined) throw bad(this.pattern, "trailing backslash");
    const ch = String.fromCodePoint(c);
    const classes: Record<string, CharTest> = {
      d: isDigit,
      D: not(isDigit),
      w: isWord,
      W: not(isWord),
      s: isSpace,
      S: not(isSpace),
    };
    if (classes[ch]) return { test: classes[ch] };
    const controls: Record<string, number> = { t: 9, n: 10, v: 11, f: 12, r: 13, a: 7 };
    if (controls[ch] !== undefined) return { cp: controls[ch] };
    if (ch === "x") return { cp: this.hexEscape() };
    if (!inClass && (ch === "A" || ch === "z")) return { anchor: ch === "A" ? "bol" : "eol" };
    if (/[A-Za-z0-9]/.test(ch)) throw bad(this.pattern, `\\${ch} is not supported`);
    return { cp: c };
  }

  private hexEscape(): number {
    const rest = String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 10));
    const m = /^(?:\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{2}))/.exec(rest);
    if (!m) throw bad(this.pattern, "invalid \\x escape");
    this.pos += m[0].length;
    const value = parseInt(m[1] ?? m[2]!, 16);
    if (value > 0x10ffff) throw bad(this.pattern, "invalid \\x escape");
    return value;
  }

  /** One class member as a code point (for ranges) or a test (\d, \w, \s). */
  private classMember(): { cp?: number; test?: CharTest } {
    const c = this.cps[this.pos++];
    if (c === undefined) throw bad(this.pattern, "missing ]");
    return c === 0x5c ? this.escapeValue(true) : { cp: c };
  }

  private charClass(): Node {
    const negated = this.peek() === 0x5e;
    if (negated) this.pos++;
    const tests: CharTest[] = [];
    // A "]" right after "[" or "[^" is a literal, as in Go.
    for (let first = true; first || this.peek() !== 0x5d; first = false) {
      if (this.peek() === undefined) throw bad(this.pattern, "missing ]");
      const lo = this.classMember();
      if (lo.test) {
        tests.push(lo.test);
        continue;
      }
      let hi = lo.cp!;
      if (this.peek() === 0x2d /* - */ && this.cps[this.pos + 1] !== undefined && this.cps[this.pos + 1] !== 0x5d) {
        this.pos++;
        const h = this.classMember();
        if (h.cp === undefined || h.cp < lo.cp!) throw bad(this.pattern, "invalid character class range");
        hi = h.cp;
      }
      const [from, to] = [lo.cp!, hi];
      tests.push((x) => x >= from && x <= to);
    }
    this.pos++; // the closing ]
    const member: CharTest = (x) => tests.some((t) => t(x));
    const inClass = this.caseInsensitive ? caseless(member) : member;
    return { t: "char", test: negated ? not(inClass) : inClass };
  }
}

class Compiler {
  readonly prog: Inst[] = [];

  constructor(private readonly pattern: string) {}

  private emit(inst: Inst): number {
    if (this.prog.length >= MAX_PROGRAM) throw bad(this.pattern, "expression too large");
    this.prog.push(inst);
    return this.prog.length - 1;
  }

  compile(node: Node): Inst[] {
    this.node(node);
    this.emit({ op: "match" });
    return this.prog;
  }

  private node(n: Node): void {
    switch (n.t) {
      case "char":
        this.emit({ op: "char", test: n.test });
        return;
      case "bol":
      case "eol":
        this.emit({ op: n.t });
        return;
      case "cat":
        for (const item of n.items) this.node(item);
        return;
      case "alt": {
        // split L1, next; L1: a; jmp end; next: split L2, … ; last: z; end:
        const jumps: number[] = [];
        n.items.forEach((item, i) => {
          if (i < n.items.length - 1) {
            const split = this.emit({ op: "split", x: 0, y: 0 });
            (this.prog[split] as { x: number }).x = this.prog.length;
            this.node(item);
            jumps.push(this.emit({ op: "jmp", x: 0 }));
            (this.prog[split] as { y: number }).y = this.prog.length;
          } else {
            this.node(item);
          }
        });
        for (const j of jumps) (this.prog[j] as { x: number }).x = this.prog.length;
        return;
      }
      case "repeat": {
        for (let i = 0; i < n.min; i++) this.node(n.node);
        if (n.max === Infinity) {
          const split = this.emit({ op: "split", x: 0, y: 0 });
          (this.prog[split] as { x: number }).x = this.prog.length;
          this.node(n.node);
          this.emit({ op: "jmp", x: split });
          (this.prog[split] as { y: number }).y = this.prog.length;
          return;
        }
        const splits: number[] = [];
        for (let i = n.min; i < n.max; i++) {
          const split = this.emit({ op: "split", x: 0, y: 0 });
          (this.prog[split] as { x: number }).x = this.prog.length;
          splits.push(split);
          this.node(n.node);
        }
        for (const s of splits) (this.prog[s] as { y: number }).y = this.prog.length;
        return;
      }
    }
  }
}

export class BoundedRegex {
  private constructor(
    readonly source: string,
    private readonly prog: Inst[],
    private readonly anchored: boolean,
    /** Every match starts with this text (a `^literal` prefix), for a range scan in SQL. */
    readonly literalPrefix: string,
  ) {}

  static compile(pattern: string): BoundedRegex {
    if (pattern.length > MAX_PATTERN_LENGTH) throw bad(pattern, `longer than ${MAX_PATTERN_LENGTH} characters`);
    const parser = new Parser(pattern);
    const ast = parser.parse();
    const prog = new Compiler(pattern).compile(ast);
    const items = ast.t === "cat" ? ast.items : [ast];
    const anchored = items[0]?.t === "bol";
    let prefix = "";
    if (anchored && !parser.caseInsensitive) {
      for (const item of items.slice(1)) {
        if (item.t !== "char" || item.literal === undefined) break;
        prefix += String.fromCodePoint(item.literal);
      }
    }
    return new BoundedRegex(pattern, prog, anchored, prefix);
  }

  /** Whether the expression matches anywhere in `text` (Go's MatchString). */
  test(text: string, meter: Meter = { steps: 0 }): boolean {
    const chars = Array.from(text, (ch) => ch.codePointAt(0)!);
    const n = chars.length;
    const prog = this.prog;
    const seen = new Int32Array(prog.length).fill(-1);
    let generation = 0;
    let current: number[] = [];
    let next: number[] = [];
    const stack: number[] = [];

    // Follows jumps, splits and assertions from `start`; true when it reaches `match`.
    const add = (list: number[], start: number, pos: number): boolean => {
      stack.push(start);
      while (stack.length > 0) {
        const pc = stack.pop()!;
        if (seen[pc] === generation) continue;
        seen[pc] = generation;
        meter.steps++;
        const inst = prog[pc]!;
        switch (inst.op) {
          case "match":
            stack.length = 0;
            return true;
          case "jmp":
            stack.push(inst.x);
            break;
          case "split":
            stack.push(inst.y, inst.x);
            break;
          case "bol":
            if (pos === 0) stack.push(pc + 1);
            break;
          case "eol":
            if (pos === n) stack.push(pc + 1);
            break;
          case "char":
            list.push(pc);
            break;
        }
      }
      return false;
    };

    if (add(current, 0, 0)) return true;
    for (let i = 0; i < n; i++) {
      generation++;
      next.length = 0;
      const c = chars[i]!;
      for (const pc of current) {
        meter.steps++;
        if ((prog[pc] as { test: CharTest }).test(c) && add(next, pc + 1, i + 1)) return true;
      }
      // Unanchored: a match may also start after this character.
      if (!this.anchored && add(next, 0, i + 1)) return true;
      if (next.length === 0 && this.anchored) return false;
      [current, next] = [next, current];
    }
    return false;
  }
}
