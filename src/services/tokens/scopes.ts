/**
 * Token scopes, registry actions and repository globs (DESIGN §2). Scopes are independent
 * (`push` does not imply `pull`); `admin` grants every action. A repository pattern is a glob
 * whose only wildcard is `*`, matching any run of characters including `/` (`team/*` covers
 * `team/a/b`); an empty pattern list covers every repository.
 */
import { invalidArgument } from "../../errors.js";

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
    if (!isScope(s))
      throw invalidArgument(`unknown scope ${JSON.stringify(s.slice(0, 40))}: expected one of ${SCOPES.join(", ")}`);
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

/** A pattern split once at its wildcards, so matching a name allocates nothing. */
interface CompiledGlob {
  /** The pattern itself when it has no wildcard (an exact name). */
  exact: string | undefined;
  first: string;
  last: string;
  /** The non-empty literal pieces between the first and the last. */
  middle: string[];
}

function compileGlob(pattern: string): CompiledGlob {
  const pieces = pattern.split("*");
  if (pieces.length === 1) return { exact: pattern, first: "", last: "", middle: [] };
  return {
    exact: undefined,
    first: pieces[0]!,
    last: pieces[pieces.length - 1]!,
    middle: pieces.slice(1, -1).filter((p) => p !== ""),
  };
}

/**
 * The literal pieces between wildcards must appear in order: the first as a prefix, the last as
 * a suffix, each middle one at its leftmost place after the previous (leftmost is always safe
 * when `*` is the only wildcard). Each piece is searched once from where the previous ended, so
 * there is no backtracking and no regex on user input.
 */
function matchesCompiled(glob: CompiledGlob, name: string): boolean {
  if (glob.exact !== undefined) return glob.exact === name;
  const { first, last, middle } = glob;
  const end = name.length - last.length;
  if (end < first.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  let pos = first.length;
  for (const piece of middle) {
    const at = name.indexOf(piece, pos);
    if (at < 0 || at + piece.length > end) return false;
    pos = at + piece.length;
  }
  return true;
}

/** Whether `name` matches `pattern` (see matchesCompiled). */
export function matchesGlob(pattern: string, name: string): boolean {
  return matchesCompiled(compileGlob(pattern), name);
}

/**
 * A token's repository check, compiled once (the token cache keeps it with the record, so a
 * validation never re-splits the patterns): true when the patterns cover `repository`; no
 * patterns = every repository.
 */
export function repositoryMatcher(patterns: readonly string[]): (repository: string) => boolean {
  if (patterns.length === 0) return () => true;
  const globs = patterns.map(compileGlob);
  return (repository) => {
    for (const glob of globs) if (matchesCompiled(glob, repository)) return true;
    return false;
  };
}

/**
 * Whether every repository name that `inner` matches is also matched by `outer` (CreateToken's
 * "never wider than the caller"). Sound: `outer`'s literal pieces never contain `*`, so a match of
 * `outer` against the text of `inner` puts each `*` of `inner` inside the run of one of `outer`'s
 * wildcards, and that wildcard then also absorbs whatever the `*` of `inner` stands for. It can be
 * conservative (a few exotic pairs that do cover are refused); never the other way round.
 */
export function patternCovers(outer: string, inner: string): boolean {
  return matchesGlob(outer, inner);
}

/** Whether a token limited to `patterns` covers `repository`; no patterns = every repository. */
export function coversRepository(patterns: readonly string[], repository: string): boolean {
  return repositoryMatcher(patterns)(repository);
}
