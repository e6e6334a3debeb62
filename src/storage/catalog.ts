/**
 * Epoch's `catalog.json` (DESIGN.md §1), pure. Reading is tolerant: an entry with an invalid
 * name or shape becomes an issue (a per-tag failure for the sync) instead of failing the file;
 * only bytes that are not a JSON object fail as a whole (CATALOG_INVALID). Writing reproduces
 * Go's `json.MarshalIndent(cat, "", "  ")`: sorted keys, two-space indent, HTML-safe escapes,
 * RFC 3339 times. Entries we do not understand are kept verbatim so a rewrite never loses them.
 */
import { failedPrecondition } from "../errors.js";
import { isRepositoryName, isTagName, quoteForMessage } from "../oci/names.js";
import { formatRfc3339, parseRfc3339 } from "../oci/rfc3339.js";

/** A well-formed repository entry; `tags` values are the manifest keys Epoch writes. */
export interface RepositoryEntry {
  tags: Map<string, unknown>;
  updatedAt: unknown;
}

/** The mutable document: repository name → entry, or the raw JSON of a malformed entry. */
export interface CatalogDocument {
  repositories: Map<string, RepositoryEntry | { raw: unknown }>;
  updatedAt: unknown;
}

export interface CatalogTag {
  name: string;
  /** The value stored for the tag (Epoch always reads `manifests/<repo>/<tag>.json` regardless). */
  key: string;
}

export interface CatalogRepository {
  name: string;
  /** The text as stored ("" if absent), compared exactly with the last applied value. */
  updatedAt: string;
  updatedAtDate: Date | undefined;
  /** Valid tags only, sorted byte-wise by name. */
  tags: CatalogTag[];
}

export interface CatalogIssue {
  repository: string;
  /** Absent when the whole repository entry is unreadable. */
  tag?: string;
  reason: "INVALID_NAME" | "CATALOG_INVALID";
  message: string;
}

export interface ParsedCatalog {
  updatedAt: string;
  updatedAtDate: Date | undefined;
  /** Repositories with a valid name, sorted byte-wise; a repository may have zero valid tags. */
  repositories: CatalogRepository[];
  issues: CatalogIssue[];
  document: CatalogDocument;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function emptyCatalogDocument(): CatalogDocument {
  return { repositories: new Map(), updatedAt: "0001-01-01T00:00:00Z" };
}

export function isRepositoryEntry(e: RepositoryEntry | { raw: unknown } | undefined): e is RepositoryEntry {
  return e !== undefined && "tags" in e;
}

/** Decodes the bytes; throws CATALOG_INVALID only when they are not a JSON object at all. */
export function parseCatalogDocument(bytes: Uint8Array): CatalogDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw failedPrecondition("catalog.json is not valid UTF-8 JSON", "CATALOG_INVALID");
  }
  if (!isObject(doc)) throw failedPrecondition("catalog.json is not a JSON object", "CATALOG_INVALID");
  const repos = doc.repositories ?? {};
  if (!isObject(repos)) throw failedPrecondition("catalog.json: repositories is not an object", "CATALOG_INVALID");
  const repositories = new Map<string, RepositoryEntry | { raw: unknown }>();
  for (const [name, entry] of Object.entries(repos)) {
    const tags = isObject(entry) ? (entry.tags ?? {}) : undefined;
    repositories.set(
      name,
      isObject(entry) && isObject(tags)
        ? { tags: new Map(Object.entries(tags)), updatedAt: entry.updatedAt }
        : { raw: entry },
    );
  }
  return { repositories, updatedAt: doc.updatedAt };
}

export function parseCatalog(bytes: Uint8Array): ParsedCatalog {
  const document = parseCatalogDocument(bytes);
  const repositories: CatalogRepository[] = [];
  const issues: CatalogIssue[] = [];
  for (const [name, entry] of [...document.repositories].sort(([a], [b]) => byName(a, b))) {
    if (!isRepositoryEntry(entry)) {
      issues.push({
        repository: name,
        reason: "CATALOG_INVALID",
        message: `catalog entry for repository ${quoteForMessage(name)} is malformed`,
      });
      continue;
    }
    const tagNames = [...entry.tags.keys()].sort(byName);
    if (!isRepositoryName(name)) {
      const message = `invalid repository name ${quoteForMessage(name)}`;
      if (tagNames.length === 0) issues.push({ repository: name, reason: "INVALID_NAME", message });
      for (const tag of tagNames) issues.push({ repository: name, tag, reason: "INVALID_NAME", message });
      continue;
    }
    const tags: CatalogTag[] = [];
    for (const tag of tagNames) {
      const key = entry.tags.get(tag);
      if (!isTagName(tag))
        issues.push({
          repository: name,
          tag,
          reason: "INVALID_NAME",
          message: `invalid tag name ${quoteForMessage(tag)}`,
        });
      else if (typeof key !== "string")
        issues.push({ repository: name, tag, reason: "CATALOG_INVALID", message: "catalog tag value is not a string" });
      else tags.push({ name: tag, key });
    }
    const updatedAt = typeof entry.updatedAt === "string" ? entry.updatedAt : "";
    repositories.push({ name, updatedAt, updatedAtDate: parseRfc3339(updatedAt), tags });
  }
  const updatedAt = typeof document.updatedAt === "string" ? document.updatedAt : "";
  return { updatedAt, updatedAtDate: parseRfc3339(updatedAt), repositories, issues, document };
}

/**
 * A time after `previous`: `now`, or previous + 1 ms when the clock has not moved past it, so a
 * rewrite always changes `updatedAt` (the sync's skip rule depends on it).
 */
export function nextTimestamp(previous: unknown, now: Date): string {
  const prev = typeof previous === "string" ? parseRfc3339(previous) : undefined;
  return formatRfc3339(prev && prev.getTime() >= now.getTime() ? new Date(prev.getTime() + 1) : now);
}

/** Go's MarshalIndent output for the document: byte-wise sorted keys, 2-space indent. */
export function serializeCatalog(doc: CatalogDocument): Buffer {
  const repositories = new Map<string, unknown>();
  for (const [name, entry] of doc.repositories) {
    repositories.set(
      name,
      isRepositoryEntry(entry)
        ? new Map<string, unknown>([
            ["tags", entry.tags],
            ["updatedAt", entry.updatedAt ?? "0001-01-01T00:00:00Z"],
          ])
        : entry.raw,
    );
  }
  const top = new Map<string, unknown>([
    ["repositories", repositories],
    ["updatedAt", doc.updatedAt ?? "0001-01-01T00:00:00Z"],
  ]);
  return Buffer.from(goJson(top, ""));
}

function goJson(value: unknown, indent: string): string {
  if (value instanceof Map) return goObject([...value.entries()] as Array<[string, unknown]>, indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const inner = indent + "  ";
    return `[\n${value.map((v) => inner + goJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (isObject(value)) return goObject(Object.entries(value), indent);
  if (typeof value === "string") return goString(value);
  if (typeof value === "number" || typeof value === "boolean") return JSON.stringify(value) ?? "null";
  return "null";
}

function goObject(entries: Array<[string, unknown]>, indent: string): string {
  const present = entries
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (present.length === 0) return "{}";
  const inner = indent + "  ";
  return `{\n${present.map(([k, v]) => `${inner}${goString(k)}: ${goJson(v, inner)}`).join(",\n")}\n${indent}}`;
}

/** Go's encoder also escapes <, >, & and U+2028/2029 (HTML-safe by default). */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
