/**
 * Step 2 of DESIGN §4, pure: the catalog against the index. Decides which repositories are
 * skipped, which tags are fetched (and with which If-None-Match), which index rows go, and
 * which catalog entries are failures (invalid names and malformed entries are never turned into
 * object-store keys).
 */
import type { ParsedCatalog } from "../../storage/catalog.js";
import type { SyncFlags, TagFailure } from "./sync-types.js";
import type { IndexedRepository, IndexedTag } from "../../db/index/index-snapshot.js";
import { tagSetHash } from "../../db/index/tag-set-hash.js";

export interface TagFetch {
  repository: string;
  tag: string;
  /** The stored ETag, when a 304 may stand for "unchanged". */
  ifNoneMatch?: string;
  existing?: IndexedTag;
}

export interface RepositoryRemoval {
  repository: string;
  repositoryId: number;
  /** Tags to delete; undefined = the repository left the catalog (all its tags). */
  names?: string[];
  /** Rows that will go (those written after the catalog read are spared). */
  count: number;
}

export interface TouchedRepository {
  name: string;
  /** The catalog's updatedAt to store once the aggregates are redone; undefined when it left the catalog. */
  catalogUpdatedAt?: string;
}

export interface SyncPlan {
  failures: TagFailure[];
  fetches: TagFetch[];
  /** Catalog tags of skipped repositories, not fetched (unchanged by definition). */
  skippedTags: number;
  skippedRepositories: number;
  removals: RepositoryRemoval[];
  removedTags: number;
  /** Repositories whose aggregates the run recomputes. */
  touched: TouchedRepository[];
  indexedTags: number;
  /** More than half of the indexed tags, and more than 100, would go. */
  massRemoval: boolean;
}

export const MASS_REMOVAL_MIN = 100;

/** How many tags the index holds for this repository (its rows are not loaded when unchanged). */
export const indexedTagsOf = (r: IndexedRepository): number => (r.unchanged ? r.tagCount : r.tags.size);

/**
 * The repositories the plan may skip without reading their tag rows: same catalog updatedAt as
 * applied last, and the catalog's tag set hashes to the stored one (so it equals the indexed
 * set). Never in a full run, never for an entry with issues.
 */
export function unchangedRepositories(
  catalog: ParsedCatalog,
  index: ReadonlyMap<string, Pick<IndexedRepository, "catalogUpdatedAt" | "tagSetSha256">>,
  flags: Pick<SyncFlags, "full">,
): Set<string> {
  const out = new Set<string>();
  if (flags.full) return out;
  const withIssues = new Set(catalog.issues.map((i) => i.repository));
  for (const repo of catalog.repositories) {
    const indexed = index.get(repo.name);
    if (
      !indexed ||
      withIssues.has(repo.name) ||
      indexed.tagSetSha256 === null ||
      indexed.catalogUpdatedAt !== repo.updatedAt
    )
      continue;
    if (tagSetHash(repo.tags.map((t) => t.name)) === indexed.tagSetSha256) out.add(repo.name);
  }
  return out;
}

export function planSync(
  catalog: ParsedCatalog,
  index: ReadonlyMap<string, IndexedRepository>,
  flags: Pick<SyncFlags, "full">,
): SyncPlan {
  const failures: TagFailure[] = catalog.issues.map((i) => ({
    repository: i.repository,
    tag: i.tag ?? "",
    reason: i.reason,
    message: i.message,
  }));
  // Entries we could not read keep their index rows: a malformed catalog entry must not delete anything.
  const unreadable = new Map<string, Set<string> | "all">();
  const withIssues = new Set<string>();
  for (const i of catalog.issues) {
    withIssues.add(i.repository);
    if (i.tag === undefined) unreadable.set(i.repository, "all");
    else if (unreadable.get(i.repository) !== "all") {
      const set = (unreadable.get(i.repository) as Set<string> | undefined) ?? new Set<string>();
      unreadable.set(i.repository, set.add(i.tag));
    }
  }

  const fetches: TagFetch[] = [];
  const removals: RepositoryRemoval[] = [];
  const touched: TouchedRepository[] = [];
  let skippedTags = 0;
  let skippedRepositories = 0;
  const inCatalog = new Set<string>();
  for (const repo of catalog.repositories) {
    inCatalog.add(repo.name);
    const indexed = index.get(repo.name);
    if (!flags.full && indexed?.unchanged) {
      // Proven unchanged by its tag-set hash (unchangedRepositories); none of its tags is incomplete.
      skippedRepositories++;
      skippedTags += repo.tags.length;
      continue;
    }
    const skip =
      !flags.full &&
      indexed !== undefined &&
      !withIssues.has(repo.name) &&
      indexed.catalogUpdatedAt === repo.updatedAt &&
      indexed.tags.size === repo.tags.length &&
      repo.tags.every((t) => indexed.tags.has(t.name));
    if (skip) {
      skippedRepositories++;
      // Incomplete tags are retried even in a repository that did not change.
      const retry = repo.tags.filter((t) => indexed.tags.get(t.name)!.incomplete);
      for (const t of retry) fetches.push({ repository: repo.name, tag: t.name, existing: indexed.tags.get(t.name)! });
      skippedTags += repo.tags.length - retry.length;
      if (retry.length > 0) touched.push({ name: repo.name, catalogUpdatedAt: repo.updatedAt });
      continue;
    }
    if (repo.tags.length > 0 || indexed) touched.push({ name: repo.name, catalogUpdatedAt: repo.updatedAt });
    for (const t of repo.tags) {
      const existing = indexed?.tags.get(t.name);
      const conditional = !flags.full && existing && !existing.incomplete && existing.objectEtag !== null;
      fetches.push({
        repository: repo.name,
        tag: t.name,
        ...(conditional && { ifNoneMatch: existing.objectEtag! }),
        ...(existing && { existing }),
      });
    }
    if (!indexed) continue;
    const listed = new Set(repo.tags.map((t) => t.name));
    const kept = unreadable.get(repo.name);
    const gone = [...indexed.tags].filter(
      ([name, row]) => !listed.has(name) && !row.newerThanCatalog && !(kept instanceof Set && kept.has(name)),
    );
    if (kept !== "all" && gone.length > 0) {
      removals.push({
        repository: repo.name,
        repositoryId: indexed.id,
        names: gone.map(([name]) => name),
        count: gone.length,
      });
    }
  }
  for (const indexed of index.values()) {
    if (inCatalog.has(indexed.name) || unreadable.get(indexed.name) === "all") continue;
    const count = [...indexed.tags.values()].filter((t) => !t.newerThanCatalog).length;
    removals.push({ repository: indexed.name, repositoryId: indexed.id, count });
    touched.push({ name: indexed.name });
  }

  let indexedTags = 0;
  for (const r of index.values()) indexedTags += indexedTagsOf(r);
  const removedTags = removals.reduce((n, r) => n + r.count, 0);
  return {
    failures,
    fetches,
    skippedTags,
    skippedRepositories,
    removals,
    removedTags,
    touched,
    indexedTags,
    massRemoval: removedTags > MASS_REMOVAL_MIN && removedTags * 2 > indexedTags,
  };
}
