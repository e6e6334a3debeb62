/**
 * Token secrets. A new secret is `epm_` + 43 base62 characters (256 bits from the CSPRNG) + a
 * 6-character checksum: base62 of the CRC32 of the first 47 characters (prefix and body), left-
 * padded with "0". The prefix lets front ends and secret scanners recognise a token; the checksum
 * lets us reject typos and random junk before any hashing, cache or database work. Epoch's
 * legacy secrets (64 lowercase hex characters) stay valid. The database keeps only the hex
 * SHA-256 of the secret string (as Epoch does), never the secret.
 */
import { hash, randomBytes } from "node:crypto";

export const SECRET_PREFIX = "epm_";
const BODY_LENGTH = 43; // 62^43 > 2^256, so 256 random bits always fit
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32, so a CRC32 always fits
export const SECRET_LENGTH = SECRET_PREFIX.length + BODY_LENGTH + CHECKSUM_LENGTH; // 53
export const LEGACY_SECRET_LENGTH = 64;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export type SecretKind = "epm" | "legacy";

function toBase62(value: bigint, width: number): string {
  let out = "";
  for (let v = value; v > 0n; v /= 62n) out = BASE62[Number(v % 62n)] + out;
  return out.padStart(width, "0");
}

// CRC-32 (ISO-HDLC, as zlib's) over ASCII char codes: the characters were checked to be ASCII
// already, and a table loop is several times cheaper than zlib's string conversion on this path.
const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

export function crc32Ascii(text: string): number {
  let crc = -1;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Base62 of the CRC32, in plain numbers (no BigInt): this runs on every validation. */
function checksumOf(prefixAndBody: string): string {
  let out = "";
  for (let v = crc32Ascii(prefixAndBody), i = 0; i < CHECKSUM_LENGTH; i++, v = Math.floor(v / 62))
    out = BASE62[v % 62] + out;
  return out;
}

/** Compares the checksum digits in place (no substring or string building on the hot path). */
function hasValidChecksum(secret: string): boolean {
  const headLength = SECRET_LENGTH - CHECKSUM_LENGTH;
  let crc = -1;
  for (let i = 0; i < headLength; i++) crc = CRC_TABLE[(crc ^ secret.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  let v = (crc ^ -1) >>> 0;
  for (let i = SECRET_LENGTH - 1; i >= headLength; i--, v = Math.floor(v / 62)) {
    if (secret.charCodeAt(i) !== BASE62.charCodeAt(v % 62)) return false;
  }
  return true;
}

/** A fresh `epm_` secret. */
export function generateSecret(): string {
  const body = toBase62(BigInt(`0x${randomBytes(32).toString("hex")}`), BODY_LENGTH);
  const head = SECRET_PREFIX + body;
  return head + checksumOf(head);
}

const isBase62 = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isLowerHex = (c: number) => (c >= 48 && c <= 57) || (c >= 97 && c <= 102);

/**
 * The cheap syntactic check: which kind of secret this is, or null when it cannot be one. Looks
 * at the length first, so a 1 MB string costs nothing; a non-ASCII character fails the
 * character-class test.
 */
export function secretKind(secret: string): SecretKind | null {
  if (secret.length === SECRET_LENGTH) {
    if (!secret.startsWith(SECRET_PREFIX)) return null;
    for (let i = SECRET_PREFIX.length; i < SECRET_LENGTH; i++) if (!isBase62(secret.charCodeAt(i))) return null;
    return hasValidChecksum(secret) ? "epm" : null;
  }
  if (secret.length === LEGACY_SECRET_LENGTH) {
    for (let i = 0; i < LEGACY_SECRET_LENGTH; i++) if (!isLowerHex(secret.charCodeAt(i))) return null;
    return "legacy";
  }
  return null;
}

/**
 * What the database stores and the cache is keyed by: hex SHA-256 of the secret string (UTF-8,
 * as `createHash().update(string)` hashes it). The one-shot `crypto.hash` builds no Hash object,
 * whose native handle costs a garbage collector's weak callback on every validation.
 */
export function hashSecret(secret: string): string {
  return hash("sha256", secret, "hex");
}
