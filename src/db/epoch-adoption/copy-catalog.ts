/**
 * The catalog step: Epoch's tags in id order, a batch per transaction; each transaction also
 * moves the cursor, so a run killed half-way resumes after the last batch that committed and
 * never copies a tag twice. Tags that cannot be adopted (names failing the OCI rules, manifests
 * that do not parse) are logged and left in epoch_v0_tags; the sync reports them too.
 */
import { ADOPTION_CURSOR_ROW, readCursor, recordStep, writeCursor } from "./adoption-state.js";
import { readEpochRepositories, readEpochTags } from "./epoch-rows.js";
import type { StepContext } from "./step-context.js";
import { convertEpochTag, type AdoptedTag } from "./tag-conversion.js";
import { writeAdoptedBatch } from "./write-adopted.js";

export interface CatalogCopy {
  tags: number;
  skipped: number;
}

/** `afterBatch` runs after each committed batch (test fault points hook in there). */
export async function copyCatalog(
  c: StepContext,
  afterBatch: () => Promise<void> = async () => {},
): Promise<CatalogCopy> {
  const result: CatalogCopy = { tags: 0, skipped: 0 };
  for (let cursor = await readCursor(c.db.ds.manager); ;) {
    const page = await readEpochTags(c.db, c.schema, cursor, c.batchSize);
    if (page.length === 0) break;
    const tags: AdoptedTag[] = [];
    for (const row of page) {
      const converted = convertEpochTag(row);
      if (converted.ok) {
        tags.push(converted.tag);
        if (converted.tag.disagreement)
          c.log(`note: ${row.repository}:${row.name}: ${converted.tag.disagreement}; adopted as the manifest says`);
      } else {
        result.skipped++;
        c.log(`skipped tag ${JSON.stringify(`${row.repository}:${row.name}`)}: ${converted.reason}`);
      }
    }
    const repositories = await readEpochRepositories(c.db, c.schema, [...new Set(tags.map((t) => t.repositoryId))]);
    const last = page.at(-1)!.id;
    await c.fenced(async (m) => {
      // The cursor is re-read under the lease: another adopter may have moved it meanwhile.
      if ((await readCursor(m)) !== cursor)
        throw new Error(`${ADOPTION_CURSOR_ROW} moved while this batch was prepared`);
      await writeAdoptedBatch(m, c.namespaceId, tags, repositories);
      await writeCursor(m, last);
    });
    result.tags += tags.length;
    cursor = last;
    await afterBatch();
  }
  await c.fenced((m) => recordStep(m, "tokens", "catalog"));
  return result;
}
