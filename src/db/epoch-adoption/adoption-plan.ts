/**
 * What an adoption would write, computed with the same conversion the copy uses and without a
 * single write (`--dry-run`): rows per table, the tokens adopted, the tags left behind and why.
 */
import type { Database } from "../data-source.js";
import { countEpochRows, readEpochBlobDigests, readEpochTags, readEpochTokens } from "./epoch-rows.js";
import type { EpochSchema } from "./epoch-tables.js";
import { convertEpochTag } from "./tag-conversion.js";
import { tokenProblem } from "./token-conversion.js";

export const PAGE = 500;
/** Skipped tags and disagreements listed by name; the rest are counted. */
export const LISTED = 20;

export interface SkippedRow {
  what: string;
  reason: string;
}

export interface AdoptionPlan {
  epochRows: Record<"repositories" | "tags" | "blobs" | "tokens", number>;
  tokens: Array<{ id: number; name: string; createdBy: string }>;
  repositories: number;
  tags: number;
  manifests: number;
  /** Index manifests whose blob edges the first sync fills in (Epoch never stored their children). */
  indexManifests: number;
  blobs: number;
  skipped: SkippedRow[];
  skippedCount: number;
  disagreements: SkippedRow[];
  disagreementCount: number;
}

export async function planAdoption(db: Database, schema: EpochSchema): Promise<AdoptionPlan> {
  const epochRows = await countEpochRows(db, schema);
  const plan: AdoptionPlan = {
    epochRows,
    tokens: [],
    repositories: 0,
    tags: 0,
    manifests: 0,
    indexManifests: 0,
    blobs: 0,
    skipped: [],
    skippedCount: 0,
    disagreements: [],
    disagreementCount: 0,
  };
  for (const t of await readEpochTokens(db, schema)) {
    const problem = tokenProblem(t);
    if (problem) addSkipped(plan, `token ${t.id}`, problem);
    else plan.tokens.push({ id: t.id, name: t.name, createdBy: t.createdBy });
  }

  const repositories = new Set<number>();
  const manifests = new Set<string>();
  const blobs = new Set(await readEpochBlobDigests(db, schema));
  for (let after = 0; ;) {
    const page = await readEpochTags(db, schema, after, PAGE);
    if (page.length === 0) break;
    after = page.at(-1)!.id;
    for (const row of page) {
      const converted = convertEpochTag(row);
      if (!converted.ok) {
        addSkipped(plan, `tag ${row.repository}:${row.name}`, converted.reason);
        continue;
      }
      const { tag } = converted;
      plan.tags++;
      repositories.add(tag.repositoryId);
      if (!manifests.has(tag.manifest.digest)) {
        manifests.add(tag.manifest.digest);
        if (tag.manifest.platformSizes !== null) plan.indexManifests++;
      }
      for (const b of tag.manifest.blobs) blobs.add(b.digest);
      if (tag.disagreement) {
        plan.disagreementCount++;
        if (plan.disagreements.length < LISTED)
          plan.disagreements.push({ what: `tag ${row.repository}:${row.name}`, reason: tag.disagreement });
      }
    }
  }
  plan.repositories = repositories.size;
  plan.manifests = manifests.size;
  plan.blobs = blobs.size;
  return plan;
}

function addSkipped(plan: AdoptionPlan, what: string, reason: string): void {
  plan.skippedCount++;
  if (plan.skipped.length < LISTED) plan.skipped.push({ what, reason });
}
