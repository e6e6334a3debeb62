/**
 * Step 2 of DESIGN §4, pure: the catalog against the index. Decides which repositories are
 * skipped, which tags are fetched (and with which If-None-Match), which index rows go, and
 * which catalog entries are failures (invalid names and malformed entries are never turned into
 * object-store keys).
 */
import type { CatalogRepository, ParsedCatalog } from "../../storage/catalog.js";
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
 * The one "repository unchanged" rule: not a full run, indexed, no issue in its catalog entry,
 * the catalog's updatedAt is the one applied last, and its tag set equals the indexed one
 * (`sameTagSet`: by the stored hash before the rows are read, by the rows once they are).
 */
function repositoryUnchanged<T extends Pick<IndexedRepository, "catalogUpdatedAt">>(
  repo: CatalogRepository,
  indexed: T,
  withIssues: ReadonlySet<string>,
  flags: Pick<SyncFlags, "full">,
  sameTagSet: (indexed: T) => boolean,
): boolean {
  return (
    !flags.full && !withIssues.has(repo.name) && indexed.catalogUpdatedAt === repo.updatedAt && sameTagSet(indexed)
  );
}

/**
 * The repositories the plan may skip without reading their tag rows: unchanged by the rule
 * above, the catalog's tag set hashing to the stored one (so it equals the indexed set).
 */
export function unchangedRepositories(
  catalog: ParsedCatalog,
  index: ReadonlyMap<string, Pick<IndexedRepository, "catalogUpdatedAt" | "tagSetSha256">>,
  flags: Pick<SyncFlags, "full">,
): Set<string> {
  const out = new Set<string>();
  if (flags.full) return out;
  const withIssues = new Set(catalog.issues.map((i) => i.repository));
  const sameHash = (repo: CatalogRepository) => (indexed: Pick<IndexedRepository, "tagSetSha256">) =>
    indexed.tagSetSha256 !== null && tagSetHash(repo.tags.map((t) => t.name)) === indexed.tagSetSha256;
  for (const repo of catalog.repositories) {
    const indexed = index.get(repo.name);
    if (indexed && repositoryUnchanged(repo, indexed, withIssues, flags, sameHash(repo))) out.add(repo.name);
  }
  return out;
}

/** Catalog entries that could not be read, as failures; their index rows are kept. */
interface CatalogIssues {
  failures: TagFailure[];
  /** Repository → its unreadable tags, or "all" when the repository entry itself is malformed. */
  unreadable: Map<string, Set<string> | "all">;
  withIssues: Set<string>;
}

function catalogIssues(catalog: ParsedCatalog): CatalogIssues {
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
  return { failures, unreadable, withIssues };
}

/** The plan's lists, filled repository by repository. */
interface PlanLists {
  fetches: TagFetch[];
  removals: RepositoryRemoval[];
  touched: TouchedRepository[];
  skippedTags: number;
  skippedRepositories: number;
}

export function planSync(
  catalog: ParsedCatalog,
  index: ReadonlyMap<string, IndexedRepository>,
  flags: Pick<SyncFlags, "full">,
): SyncPlan {
  const issues = catalogIssues(catalog);
  const lists: PlanLists = { fetches: [], removals: [], touched: [], skippedTags: 0, skippedRepositories: 0 };
  for (const repo of catalog.repositories) planRepository(lists, repo, index.get(repo.name), issues, flags);
  const inCatalog = new Set(catalog.repositories.map((r) => r.name));
  for (const indexed of index.values()) {
    if (!inCatalog.has(indexed.name)) planLeftRepository(lists, indexed, issues);
  }
  let indexedTags = 0;
  for (const r of index.values()) indexedTags += indexedTagsOf(r);
  const removedTags = lists.removals.reduce((n, r) => n + r.count, 0);
  return {
    failures: issues.failures,
    ...lists,
    removedTags,
    indexedTags,
    massRemoval: removedTags > MASS_REMOVAL_MIN && removedTags * 2 > indexedTags,
  };
}

/** One catalog repository: skipped, retried (its incomplete tags), or fetched in full with its gone tags removed. */
function planRepository(
  lists: PlanLists,
  repo: CatalogRepository,
  indexed: IndexedRepository | undefined,
  issues: CatalogIssues,
  flags: Pick<SyncFlags, "full">,
): void {
  if (!flags.full && indexed?.unchanged) {
    // Proven unchanged by its tag-set hash (unchangedRepositories); none of its tags is incomplete.
    lists.skippedRepositories++;
    lists.skippedTags += repo.tags.length;
    return;
  }
  const sameRows = (i: IndexedRepository) =>
    i.tags.size === repo.tags.length && repo.tags.every((t) => i.tags.has(t.name));
  if (indexed && repositoryUnchanged(repo, indexed, issues.withIssues, flags, sameRows)) {
    lists.skippedRepositories++;
    // Incomplete tags are retried even in a repository that did not change.
    const retry = repo.tags.filter((t) => indexed.tags.get(t.name)!.incomplete);
    for (const t of retry)
      lists.fetches.push({ repository: repo.name, tag: t.name, existing: indexed.tags.get(t.name)! });
    lists.skippedTags += repo.tags.length - retry.length;
    if (retry.length > 0) lists.touched.push({ name: repo.name, catalogUpdatedAt: repo.updatedAt });
    return;
  }
  if (repo.tags.length > 0 || indexed) lists.touched.push({ name: repo.name, catalogUpdatedAt: repo.updatedAt });
  for (const t of repo.tags) {
    const existing = indexed?.tags.get(t.name);
    const conditional = !flags.full && existing && !existing.incomplete && existing.objectEtag !== null;
    lists.fetches.push({
      repository: repo.name,
      tag: t.name,
      ...(conditional && { ifNoneMatch: existing.objectEtag! }),
      ...(existing && { existing }),
    });
  }
  if (indexed) planGoneTags(lists, repo, indexed, issues.unreadable.get(repo.name));
}

/** Indexed tags the catalog no longer lists (rows newer than the catalog, and unreadable entries, stay). */
function planGoneTags(
  lists: PlanLists,
  repo: CatalogRepository,
  indexed: IndexedRepository,
  kept: Set<string> | "all" | undefined,
): void {
  const listed = new Set(repo.tags.map((t) => t.name));
  const gone = [...indexed.tags].filter(
    ([name, row]) => !listed.has(name) && !row.newerThanCatalog && !(kept instanceof Set && kept.has(name)),
  );
  if (kept === "all" || gone.length === 0) return;
  lists.removals.push({
    repository: repo.name,
    repositoryId: indexed.id,
    names: gone.map(([name]) => name),
    count: gone.length,
  });
}

/** An indexed repository that left the catalog: all its rows go (unless its entry is unreadable). */
function planLeftRepository(lists: PlanLists, indexed: IndexedRepository, issues: CatalogIssues): void {
  if (issues.unreadable.get(indexed.name) === "all") return;
  const count = [...indexed.tags.values()].filter((t) => !t.newerThanCatalog).length;
  lists.removals.push({ repository: indexed.name, repositoryId: indexed.id, count });
  lists.touched.push({ name: indexed.name });
}
