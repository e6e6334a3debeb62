/**
 * Token scopes, registry actions and repository globs (DESIGN §2). Scopes are independent
 * (`push` does not imply `pull`); `admin` grants every action. A repository pattern is a glob
 * whose only wildcard is `*`, matching any run of characters including `/` (`team/*` covers
 * `team/a/b`); an empty pattern list covers every repository.
 */
import { invalidArgument } from "../errors.js";

export const SCOPES = ["pull", "push", "delete", "service", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export const ACTIONS = ["pull", "push", "delete"] as const;
/** A registry action; "" asks only whether the token is valid. */
export type Action = (typeof ACTIONS)[number] | "";

const SCOPE_SET: ReadonlySet<string> = new Set(SCOPES);
const ACTION_SET: ReadonlySet<string> = new Set(ACTIONS);

export const isScope = (s: string): s is Scope => SCOPE_SET.has(s);

/** CreateToken's scopes: each must be known; duplicates folded; none = `pull`. Canonical order. */
export function normalizeScopes(input: readonly string[]): Scope[] {
  for (const s of input) {
    if (!isScope(s)) throw invalidArgument(`unknown scope ${JSON.stringify(s.slice(0, 40))}: expected one of ${SCOPES.join(", ")}`);
  }
  if (input.length === 0) return ["pull"];
  return SCOPES.filter((s) => input.includes(s));
}

/** Scopes as stored (comma-separated); unknown words from a newer version are ignored. */
export function parseStoredScopes(stored: string): Scope[] {
  return SCOPES.filter((s) => stored.split(",").includes(s));
}

/** An action outside pull/push/delete/"" is a caller bug, not a denial. */
export function parseAction(action: string): Action {
  if (action === "" || ACTION_SET.has(action)) return action as Action;
  throw invalidArgument(`unknown action ${JSON.stringify(action.slice(0, 40))}: expected pull, push, delete or empty`);
}

export function grantsAction(scopes: readonly Scope[], action: Action): boolean {
  return action === "" || scopes.includes("admin") || scopes.includes(action);
}

export const MAX_PATTERN_LENGTH = 255;
export const MAX_PATTERNS = 100;
// Characters of OCI repository names, plus the wildcard.
const PATTERN_CHARS = /^[a-z0-9._/*-]+$/;

/** CreateToken's repository patterns: validated, duplicates folded, order kept. */
export function normalizeRepositoryPatterns(input: readonly string[]): string[] {
  if (input.length > MAX_PATTERNS) throw invalidArgument(`at most ${MAX_PATTERNS} repository patterns`, "INVALID_NAME");
  for (const p of input) {
    if (p.length === 0 || p.length > MAX_PATTERN_LENGTH || !PATTERN_CHARS.test(p)) {
      throw invalidArgument(
        `invalid repository pattern ${JSON.stringify(p.slice(0, 80))}: 1–${MAX_PATTERN_LENGTH} characters of a-z 0-9 . _ / - and the wildcard *`,
        "INVALID_NAME",
      );
    }
  }
  return [...new Set(input)];
}

/**
 * Whether `name` matches `pattern`. The literal pieces between wildcards must appear in order:
 * the first as a prefix, the last as a suffix, each middle one at its leftmost place after the
 * previous (leftmost is always safe when `*` is the only wildcard). Each piece is searched once
 * from where the previous ended, so there is no backtracking and no regex on user input.
 */
export function matchesGlob(pattern: string, name: string): boolean {
  const pieces = pattern.split("*");
  if (pieces.length === 1) return pattern === name;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const end = name.length - last.length;
  if (end < first.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  let pos = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    if (piece === "") continue;
    const at = name.indexOf(piece, pos);
    if (at < 0 || at + piece.length > end) return false;
    pos = at + piece.length;
  }
  return true;
}

/** Whether a token limited to `patterns` covers `repository`; no patterns = every repository. */
export function coversRepository(patterns: readonly string[], repository: string): boolean {
  return patterns.length === 0 || patterns.some((p) => matchesGlob(p, repository));
}
