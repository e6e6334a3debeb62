/**
 * Reads one tag from the registry and turns it into the facts the index stores: the manifest
 * (digest, kind, sizes, blob set, index children and platform sizes) and the tag (ETag, push
 * time, completeness). Shared by the catalog sync and IndexTag; no database access here.
 */
import type { ManifestFacts, TagFacts } from "../../db/index/tag-facts.js";
import { isEpochError, type ErrorReason } from "../../errors.js";
import { analyzeManifest, completeIndex, type ManifestAnalysis } from "../../oci/analyze.js";
import { parseManifest, platformText, type ParsedManifest } from "../../oci/manifest.js";
import { isNotFound } from "../../storage/object-store.js";
import type { RegistryLayout } from "../../storage/registry-layout.js";

/** Why a tag could be indexed only partly (an index child missing or unreadable). */
export interface PartialRead {
  reason: ErrorReason;
  message: string;
}

export type TagRead = { status: "not_modified" } | { status: "ok"; facts: TagFacts; partial?: PartialRead };

export type ChildRead =
  { status: "ok"; manifest: ParsedManifest } | { status: "missing" } | { status: "invalid"; message: string };

/** Reads an index child by digest; a sync shares one per run so each child is fetched once. */
export type ChildReader = (repository: string, digest: string) => Promise<ChildRead>;

export function childReader(layout: RegistryLayout): ChildReader {
  return async (repository, digest) => {
    try {
      const got = await layout.readManifestByDigest(repository, digest);
      if (got.status !== "ok") throw new Error("unreachable: unconditional read");
      return { status: "ok", manifest: parseManifest(got.bytes) };
    } catch (e) {
      if (isNotFound(e) || (isEpochError(e) && e.reason === "MANIFEST_MISSING")) return { status: "missing" };
      if (isEpochError(e) && e.reason === "MANIFEST_INVALID") return { status: "invalid", message: e.message };
      // Unavailable after retries: the whole tag fails and keeps its previous row.
      throw e;
    }
  };
}

/** Memoizes a reader per (repository, digest) for one run. */
export function cachedChildReader(read: ChildReader): ChildReader {
  const cache = new Map<string, Promise<ChildRead>>();
  return (repository, digest) => {
    const key = `${repository}@${digest}`;
    let got = cache.get(key);
    if (!got) {
      got = read(repository, digest);
      // A failed read is not cached: another tag of the run may retry it.
      got.catch(() => cache.delete(key));
      cache.set(key, got);
    }
    return got;
  };
}

/**
 * Reads `repository:tag` (conditionally on `ifNoneMatch`). Throws MANIFEST_MISSING,
 * MANIFEST_INVALID or a storage error; a missing or invalid index child yields an incomplete tag
 * with `partial` set.
 */
export async function readTag(
  layout: RegistryLayout,
  readChild: ChildReader,
  repository: string,
  tag: string,
  opts: { ifNoneMatch?: string } = {},
): Promise<TagRead> {
  const got = await layout.readManifest(
    repository,
    tag,
    opts.ifNoneMatch === undefined ? {} : { ifNoneMatch: opts.ifNoneMatch },
  );
  if (got.status === "not_modified") return { status: "not_modified" };
  const analysis = analyzeManifest(got.bytes);
  const { manifest, partial } = await manifestFacts(analysis, got.bytes, repository, readChild);
  const facts: TagFacts = {
    repository,
    tag,
    manifest,
    pushedAt: analysis.createdAt ?? got.lastModified,
    objectEtag: got.etag,
    incomplete: !manifest.complete,
  };
  return partial ? { status: "ok", facts, partial } : { status: "ok", facts };
}

async function manifestFacts(
  analysis: ManifestAnalysis,
  bytes: Buffer,
  repository: string,
  readChild: ChildReader,
): Promise<{ manifest: ManifestFacts; partial?: PartialRead }> {
  const base = {
    digest: analysis.digest,
    mediaType: analysis.mediaType,
    artifactType: analysis.artifactType ?? "",
    kind: analysis.kind,
    json: bytes.toString("utf8"),
  };
  if (analysis.manifest.type === "manifest") {
    const summary = analysis.summary!;
    const manifest = { ...base, ...summary, platformSizes: null, children: [], complete: true };
    return { manifest };
  }
  const children = new Map<string, ParsedManifest | undefined>();
  const missing: string[] = [];
  const invalid: string[] = [];
  const reads = await Promise.all(analysis.childDigests.map(async (d) => [d, await readChild(repository, d)] as const));
  for (const [digest, read] of reads) {
    if (read.status === "ok") children.set(digest, read.manifest);
    else (read.status === "missing" ? missing : invalid).push(digest);
  }
  const summary = completeIndex(analysis, children);
  const manifest: ManifestFacts = {
    ...base,
    totalSize: summary.totalSize,
    layerCount: summary.layerCount,
    blobs: summary.blobs,
    platformSizes: summary.platformSizes.map((p) => ({ ...p })),
    children: analysis.manifest.manifests.map((d) => ({ digest: d.digest, platform: platformText(d.platform) })),
    complete: !summary.incomplete,
  };
  if (summary.incomplete) {
    const reason: ErrorReason = missing.length > 0 ? "INDEX_CHILD_MISSING" : "MANIFEST_INVALID";
    const parts = [
      missing.length > 0 ? `missing index children: ${listDigests(missing)}` : "",
      invalid.length > 0 ? `invalid index children: ${listDigests(invalid)}` : "",
    ].filter(Boolean);
    return { manifest, partial: { reason, message: `indexed incomplete; ${parts.join("; ")}` } };
  }
  return { manifest };
}

function listDigests(digests: string[]): string {
  const shown = digests.slice(0, 3).join(", ");
  return digests.length > 3 ? `${shown} and ${digests.length - 3} more` : shown;
}
