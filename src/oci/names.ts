/**
 * Repository, tag and digest rules (DESIGN.md §1, OCI distribution). A name that fails them is
 * never turned into an object-store key or a file path.
 */
import { invalidArgument } from "../errors.js";

export const MAX_REPOSITORY_LENGTH = 255;

// Each separator must be followed by an alphanumeric run, so a string splits into components in
// exactly one way: the engine cannot backtrack exponentially. The length check before the regex
// bounds even the linear work on hostile input.
const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
export const REPOSITORY_PATTERN = new RegExp(`^${COMPONENT}(?:\\/${COMPONENT})*$`);
export const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

export function isRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_PATTERN.test(name);
}

export function isTagName(name: string): boolean {
  return name.length <= 128 && TAG_PATTERN.test(name);
}

export function isDigest(value: string): boolean {
  return value.length === 71 && DIGEST_PATTERN.test(value);
}

/** Shortens user input quoted in messages, so a 4 MB name never lands in a log line. */
export function quoteForMessage(value: string, max = 80): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown);
}

export function assertRepositoryName(name: string): void {
  if (!isRepositoryName(name)) {
    throw invalidArgument(`invalid repository name ${quoteForMessage(name)}`, "INVALID_NAME");
  }
}

export function assertTagName(name: string): void {
  if (!isTagName(name)) {
    throw invalidArgument(`invalid tag name ${quoteForMessage(name)}`, "INVALID_NAME");
  }
}

export function assertDigest(value: string): void {
  if (!isDigest(value)) {
    throw invalidArgument(`invalid digest ${quoteForMessage(value)}: want sha256:<64 lowercase hex>`, "INVALID_DIGEST");
  }
}

/** The 64 hex characters of a valid `sha256:` digest. */
export function digestHex(digest: string): string {
  assertDigest(digest);
  return digest.slice("sha256:".length);
}
