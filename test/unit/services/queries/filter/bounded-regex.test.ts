import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EpochError } from "../../../../../src/errors.js";
import { BoundedRegex, type Meter } from "../../../../../src/services/queries/filter/bounded-regex.js";

const matches = (pattern: string, text: string) => BoundedRegex.compile(pattern).test(text);

/** The text as UTF-8 bytes behind a proxy that counts how often the engine reads one. */
function countingBytes(text: string): { input: string; reads(): number } {
  const bytes = Array.from(new TextEncoder().encode(text));
  let reads = 0;
  const input = new Proxy(bytes, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  // The engine takes a string or its UTF-8 bytes; the wrapper passes either through.
  return { input: input as unknown as string, reads: () => reads };
}

describe("bounded regex", () => {
  it("agrees with JS RegExp on the supported syntax", () => {
    const patterns = [
      "abc",
      "^abc",
      "abc$",
      "^abc$",
      "a.c",
      "a*",
      "^a*$",
      "a+b",
      "^(ab|cd)+$",
      "^v[0-9]+\\.[0-9]+$",
      "[^a-z]",
      "^[a-zA-Z_][a-zA-Z0-9._-]{0,3}$",
      "\\d{2,}",
      "^\\w+$",
      "\\s",
      "^(?:foo|bar)?baz$",
      "x{2}",
      "^x{1,2}y$",
      "^a{0}b$",
      "(a|b)*c",
      "^$",
      "",
      "^.+-rc\\d*$",
      "[\\]a]",
      "[a-]",
      "^a\\.b$",
      "^\\x41$",
      "latest|stable",
      "^(a*)*$",
      "^(a|a)*b$",
      "{",
      "a{,3}",
      "^[^/]+/[^/]+$",
      "colou?r",
      "^sha256:[0-9a-f]{6}",
    ];
    const texts = [
      "",
      "abc",
      "xabcx",
      "aaa",
      "ab",
      "abcd",
      "v1.2",
      "v10.20",
      "v1.2.3",
      "A",
      "a-b",
      "ab cd",
      "12",
      "1",
      "foobaz",
      "baz",
      "barbaz",
      "xx",
      "xy",
      "aay",
      "b",
      "abababc",
      "1.0-rc",
      "1.0-rc2",
      "]",
      "-",
      "a.b",
      "aXb",
      "latest",
      "stable",
      "Latest",
      "aaaa",
      "aaab",
      "{",
      "a{,3}",
      "library/app",
      "a/b/c",
      "color",
      "colour",
      "sha256:abcdef12",
    ];
    for (const p of patterns) {
      const re = new RegExp(p);
      for (const t of texts) expect(matches(p, t), `${p} on ${JSON.stringify(t)}`).toBe(re.test(t));
    }
  });

  it("agrees with JS RegExp on random strings (property)", () => {
    const patterns = ["^[a-c]*b[a-c]?$", "(ab|b)+c", "^a?b*c{1,2}$", "[^ab]c|a.c", "^(a|ab)(c|bcd)$"];
    fc.assert(
      fc.property(
        fc.constantFrom(...patterns),
        fc.stringMatching(/^[a-d]{0,12}$/),
        (p, t) => matches(p, t) === new RegExp(p).test(t),
      ),
      { numRuns: 2000 },
    );
  });

  it("supports a leading (?i) for ASCII letters", () => {
    expect(matches("(?i)^latest$", "LaTeSt")).toBe(true);
    expect(matches("(?i)^[a-c]+$", "ABC")).toBe(true);
    expect(matches("(?i)^[^a]$", "A")).toBe(false);
    expect(matches("^latest$", "Latest")).toBe(false);
  });

  it("reads each character a bounded number of times on catastrophic-backtracking patterns", () => {
    const evil = ["^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "(x+x+)+y", "^(\\w+\\s?)*$", "^(a*)*b$", "^(.*a){12}$"];
    for (const p of evil) {
      const re = BoundedRegex.compile(p);
      const reads = [2500, 5000].map((n) => {
        const text = countingBytes(`${"a".repeat(n)}!`);
        expect(re.test(text.input), p).toBe(false);
        return text.reads();
      });
      // Linear: a small constant per character, and twice the text costs about twice the reads.
      expect(reads[0], p).toBeLessThan(2501 * 40);
      expect(reads[1]! / reads[0]!, p).toBeLessThan(2.2);
    }
  });

  it("charges the meter by text length", () => {
    const meter: Meter = { steps: 0 };
    BoundedRegex.compile("^(a+)+$").test("a".repeat(100), meter);
    BoundedRegex.compile("b").test("abc", meter);
    expect(meter.steps).toBe(101 + 4);
  });

  it("rejects what it cannot run in linear time, or cannot parse, with INVALID_FILTER", () => {
    const bad = [
      "(a",
      "a)",
      "[a",
      "*a",
      "a**",
      "a{2}{3}",
      "(?=a)",
      "(?!a)",
      "(?<=a)b",
      "\\1",
      "a{1001}",
      "(a{100}){100}",
      "\\",
      "[z-a]",
      "x".repeat(2000),
      "\\xZZ",
    ];
    for (const p of bad) {
      let error: unknown;
      try {
        BoundedRegex.compile(p);
      } catch (e) {
        error = e;
      }
      expect(error, p).toBeInstanceOf(EpochError);
      expect((error as EpochError).reason, p).toBe("INVALID_FILTER");
    }
  });
});
