/**
 * Step 3 of DESIGN §4: fetch the planned tags with bounded concurrency, each manifest
 * conditionally on its stored ETag, index children once per (repository, digest) per run.
 * Retries of retryable store errors happen below (RetryingStore, counted); what still fails
 * becomes a per-tag failure here, never a failed run.
 */
import type { TagFacts } from "../../db/index/tag-facts.js";
import { isEpochError, type ErrorReason } from "../../errors.js";
import { logger } from "../../logger.js";
import type { RegistryLayout } from "../../storage/registry-layout.js";
import type { TagFetch } from "./sync-plan.js";
import { cachedChildReader, childReader, readTag, type ChildReader, type PartialRead } from "../tags/tag-reader.js";

export type FetchResult =
  | { kind: "not_modified" }
  | { kind: "ok"; facts: TagFacts; partial?: PartialRead }
  | { kind: "failed"; reason: ErrorReason; message: string };

export interface FetchOutcome {
  fetch: TagFetch;
  result: FetchResult;
}

export interface FetchOptions {
  concurrency: number;
  /** Aborted by cancellation, shutdown or a lost lease: stop taking new tags. */
  signal: AbortSignal;
  /** Receives each tag's outcome (nothing is retained here: the caller keeps what it needs). */
  onOutcome(outcome: FetchOutcome): void;
}

export async function fetchTags(
  layout: RegistryLayout,
  fetches: readonly TagFetch[],
  opts: FetchOptions,
): Promise<void> {
  const readChild = cachedChildReader(childReader(layout));
  let next = 0;
  const worker = async () => {
    while (next < fetches.length) {
      opts.signal.throwIfAborted();
      const fetch = fetches[next++]!;
      opts.onOutcome({ fetch, result: await fetchOne(layout, readChild, fetch) });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, fetches.length)) }, worker));
  opts.signal.throwIfAborted();
}

async function fetchOne(layout: RegistryLayout, readChild: ChildReader, fetch: TagFetch): Promise<FetchResult> {
  try {
    const read = await readTag(
      layout,
      readChild,
      fetch.repository,
      fetch.tag,
      fetch.ifNoneMatch === undefined ? {} : { ifNoneMatch: fetch.ifNoneMatch },
    );
    if (read.status === "not_modified") return { kind: "not_modified" };
    return read.partial ? { kind: "ok", facts: read.facts, partial: read.partial } : { kind: "ok", facts: read.facts };
  } catch (e) {
    return failure(e, fetch);
  }
}

function failure(e: unknown, fetch: TagFetch): FetchResult {
  if (isEpochError(e)) {
    // Storage errors carry STORAGE_* reasons; manifest problems MANIFEST_MISSING / MANIFEST_INVALID.
    const reason: ErrorReason = e.reason === "INTERNAL" ? "STORAGE_ERROR" : e.reason;
    return { kind: "failed", reason, message: e.message };
  }
  logger.error({ err: e, repository: fetch.repository, tag: fetch.tag }, "unexpected error while fetching a tag");
  return { kind: "failed", reason: "INTERNAL", message: "internal error while reading the tag" };
}
