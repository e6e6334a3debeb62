/**
 * `epoch-meta migrate --from-epoch [--dry-run] [--drop-legacy]`: adopts an Epoch database in
 * place (db/epoch-adoption/) and prints the plan or what was done, for an operator to read.
 */
import type { Database } from "../db/data-source.js";
import { adoptEpochDatabase, type AdoptionResult, type AdoptOptions } from "../db/epoch-adoption/adopt.js";
import type { AdoptionPlan } from "../db/epoch-adoption/adoption-plan.js";
import { describeShape, type EpochSchema } from "../db/epoch-adoption/epoch-tables.js";

export interface MigrateFromEpochOptions extends Pick<
  AdoptOptions,
  "dryRun" | "dropLegacy" | "holder" | "faultPoints" | "batchSize"
> {
  print?: (line: string) => void;
}

export async function migrateFromEpoch(db: Database, opts: MigrateFromEpochOptions = {}): Promise<AdoptionResult> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const result = await adoptEpochDatabase(db, { ...opts, log: (line) => print(`  ${line}`) });
  for (const line of describeResult(result, opts)) print(line);
  return result;
}

export function describeResult(result: AdoptionResult, opts: Pick<AdoptOptions, "dropLegacy"> = {}): string[] {
  switch (result.outcome) {
    case "planned":
      return describePlan(
        result.state.kind === "adopting" ? result.state.step : null,
        result.state.schema,
        result.plan,
        opts,
      );
    case "already-adopted": {
      const lines = ["this database was adopted from Epoch already: nothing to do"];
      if (result.droppedLegacy.length > 0) lines.push(`dropped ${result.droppedLegacy.join(", ")}`);
      else if (result.legacyTables.length > 0)
        lines.push(`Epoch's tables are kept as ${result.legacyTables.join(", ")} (drop them with --drop-legacy)`);
      return lines;
    }
    case "adopted": {
      const c = result.counts;
      const lines = [
        result.resumedAfter === null
          ? "adopted the Epoch database"
          : `finished the interrupted adoption (it had completed "${result.resumedAfter}")`,
        `  tokens        ${c.tokens}${c.epoch ? ` of ${c.epoch.tokens}` : ""} (their secrets keep working; scopes pull,push,delete; no expiry)`,
        `  repositories  ${c.repositories}${c.epoch ? ` of ${c.epoch.repositories}` : ""}`,
        `  tags          ${c.tags}${c.epoch ? ` of ${c.epoch.tags}` : ""}`,
        `  manifests     ${c.manifests} (deduplicated by digest)`,
        `  blobs         ${c.blobs} (${c.referencedBlobs} referenced; Epoch had ${c.epoch?.blobs ?? "?"})`,
      ];
      if (c.indexesAwaitingSync > 0) {
        lines.push(
          `  ${c.indexesAwaitingSync} image indexes: Epoch never stored their children, so their blob edges (and the sizes built on them) are filled in by the first sync`,
        );
      }
      if (result.droppedLegacy.length > 0) lines.push(`dropped ${result.droppedLegacy.join(", ")}`);
      else {
        lines.push(
          "Epoch's tables are kept as epoch_v0_repositories, epoch_v0_tags, epoch_v0_blobs, epoch_v0_tokens (drop them with --drop-legacy)",
        );
        if (result.schema.has.tokenPlain)
          lines.push(
            "warning: epoch_v0_tokens still holds Epoch's plaintext secrets (token_plain): drop the legacy tables once you no longer need to go back",
          );
      }
      lines.push("next: start `epoch-meta serve` against the same registry; its first sync re-reads every adopted tag");
      return lines;
    }
  }
}

function describePlan(
  resumeAfter: string | null,
  schema: EpochSchema,
  plan: AdoptionPlan,
  opts: Pick<AdoptOptions, "dropLegacy">,
): string[] {
  const e = plan.epochRows;
  const lines = [
    resumeAfter === null
      ? `found an Epoch database (${describeShape(schema)})`
      : `found an interrupted adoption (it completed "${resumeAfter}"); running without --dry-run finishes it`,
    "dry run: nothing was written. The adoption would write:",
    `  tokens        ${plan.tokens.length} of ${e.tokens} (scopes pull,push,delete; no expiry; ids and hashes kept)`,
    ...plan.tokens
      .slice(0, 20)
      .map((t) => `      #${t.id} ${JSON.stringify(t.name)}${t.createdBy ? ` by ${JSON.stringify(t.createdBy)}` : ""}`),
    ...(plan.tokens.length > 20 ? [`      … and ${plan.tokens.length - 20} more`] : []),
    `  repositories  ${plan.repositories} of ${e.repositories}`,
    `  tags          ${plan.tags} of ${e.tags}`,
    `  manifests     ${plan.manifests} (deduplicated by digest; ${plan.indexManifests} image indexes get their blob edges from the first sync)`,
    `  blobs         ${plan.blobs} (Epoch has ${e.blobs})`,
  ];
  if (plan.skippedCount > 0) {
    lines.push(`left behind (${plan.skippedCount}):`, ...plan.skipped.map((s) => `  ${s.what}: ${s.reason}`));
    if (plan.skippedCount > plan.skipped.length) lines.push(`  … and ${plan.skippedCount - plan.skipped.length} more`);
  }
  if (plan.disagreementCount > 0) {
    lines.push(
      `Epoch's stored values that disagree with the manifest bytes (${plan.disagreementCount}; adopted as the manifest says):`,
      ...plan.disagreements.map((s) => `  ${s.what}: ${s.reason}`),
    );
  }
  lines.push(
    opts.dropLegacy
      ? "Epoch's tables would be renamed to epoch_v0_* and dropped afterwards (--drop-legacy)"
      : "Epoch's tables would be renamed to epoch_v0_* and kept (drop them later with --drop-legacy)",
  );
  return lines;
}
