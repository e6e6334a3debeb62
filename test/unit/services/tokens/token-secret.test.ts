import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32 } from "node:zlib";
import {
  crc32Ascii,
  generateSecret,
  hashSecret,
  secretKind,
  SECRET_LENGTH,
  SECRET_PREFIX,
} from "../../../../src/services/tokens/token-secret.js";

const BASE62 = /^[0-9A-Za-z]+$/;

describe("token secrets", () => {
  it("are epm_ + 43 base62 + 6 base62 checksum characters and pass their own check", () => {
    for (let i = 0; i < 1000; i++) {
      const s = generateSecret();
      expect(s).toHaveLength(53);
      expect(SECRET_LENGTH).toBe(53);
      expect(s.startsWith(SECRET_PREFIX)).toBe(true);
      expect(s.slice(4)).toMatch(BASE62);
      expect(secretKind(s)).toBe("epm");
    }
  });

  it("never repeat (256 random bits)", () => {
    const seen = new Set(Array.from({ length: 10_000 }, generateSecret));
    expect(seen.size).toBe(10_000);
  });

  it("reject every single-character change (CRC32 catches all bursts up to 32 bits)", () => {
    const s = generateSecret();
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let changed = 0;
    for (let i = 4; i < s.length; i++) {
      for (const c of alphabet) {
        if (c === s[i]) continue;
        expect(secretKind(s.slice(0, i) + c + s.slice(i + 1))).toBeNull();
        changed++;
      }
    }
    expect(changed).toBe(49 * 61);
  });

  it("reject a wrong prefix, wrong lengths, non-ASCII and huge strings", () => {
    const s = generateSecret();
    expect(secretKind(`epx_${s.slice(4)}`)).toBeNull();
    expect(secretKind(`EPM_${s.slice(4)}`)).toBeNull();
    expect(secretKind(s.slice(0, -1))).toBeNull();
    expect(secretKind(`${s}0`)).toBeNull();
    expect(secretKind("")).toBeNull();
    expect(secretKind(`${s.slice(0, 10)}é${s.slice(11)}`)).toBeNull();
    expect(secretKind(`${s.slice(0, 10)}\u0000${s.slice(11)}`)).toBeNull();
    expect(secretKind("x".repeat(1024 * 1024))).toBeNull();
    expect(secretKind(`epm_${"a".repeat(1024 * 1024)}`)).toBeNull();
  });

  it("accept Epoch's legacy 64-lowercase-hex secrets only", () => {
    const legacy = "0123456789abcdef".repeat(4);
    expect(secretKind(legacy)).toBe("legacy");
    expect(secretKind(legacy.toUpperCase())).toBeNull();
    expect(secretKind(`${legacy.slice(0, 63)}g`)).toBeNull();
    expect(secretKind(legacy.slice(1))).toBeNull();
  });

  it("classify arbitrary strings without throwing, and accept only the two formats", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        const kind = secretKind(s);
        if (kind === "legacy") expect(s).toMatch(/^[0-9a-f]{64}$/);
        if (kind === "epm") expect(s).toMatch(/^epm_[0-9A-Za-z]{49}$/);
      }),
      { numRuns: 5000 },
    );
  });

  it("checksum with the standard CRC-32 (zlib's), documented for other implementations", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme-ascii", maxLength: 60 }), (s) => {
        expect(crc32Ascii(s)).toBe(crc32(s));
      }),
    );
    const s = generateSecret();
    let v = crc32(s.slice(0, 47));
    let expected = "";
    for (let i = 0; i < 6; i++, v = Math.floor(v / 62))
      expected = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[v % 62] + expected;
    expect(s.slice(47)).toBe(expected);
  });

  it("hash as hex SHA-256 of the secret string (Epoch's token_hash)", () => {
    const s = generateSecret();
    expect(hashSecret(s)).toBe(createHash("sha256").update(s, "utf8").digest("hex"));
    expect(hashSecret(s)).toMatch(/^[0-9a-f]{64}$/);
  });
});
