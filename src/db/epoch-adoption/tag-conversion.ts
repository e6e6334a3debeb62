/**
 * One Epoch tag row → the manifest and tag rows epoch-meta stores, pure. The manifest JSON Epoch
 * kept is the source: digest, media type, artifact type, kind, sizes and blob edges come from it
 * through src/oci, exactly as a sync computes them, so the first sync finds them unchanged.
 * Epoch never stored an index's children, so for an index its sizes and platform sizes are
 * Epoch's (platforms added from the index entries) and its blob edges stay empty until the
 * first sync reads the children.
 */
import type { PlatformSizeJson } from "../entities/index.js";
import type { ManifestFacts } from "../index/tag-facts.js";
import { isEpochError } from "../../errors.js";
import { analyzeManifest } from "../../oci/analyze.js";
import type { ArtifactKind } from "../../oci/kinds.js";
import { platformText, type ImageIndex } from "../../oci/manifest.js";
import { isRepositoryName, isTagName } from "../../oci/names.js";

/** A row of Epoch's `tags` joined with its repository's name; times as UTC epoch ms. */
export interface EpochTagRow {
  id: number;
  repositoryId: number;
  repository: string;
  name: string;
  digest: string;
  manifestJson: string;
  totalSize: number;
  layerCount: number;
  pushedAt: number | null;
  syncedAt: number | null;
  /** Absent on databases older than the column. */
  kind?: string;
  platformSizes?: unknown;
}

/**
 * The manifest facts a sync reads, less `complete` (the tag's `incomplete` says it). Of an index,
 * `blobs` is empty: its children were never stored.
 */
export type AdoptedManifest = Omit<ManifestFacts, "complete">;

export interface AdoptedTag {
  epochId: number;
  repositoryId: number;
  repository: string;
  name: string;
  manifest: AdoptedManifest;
  pushedAt: Date;
  /** An index Epoch read fewer children of than it lists (or before it kept platform sizes). */
  incomplete: boolean;
  /** Epoch's stored digest or kind disagreed with the manifest bytes (the bytes win). */
  disagreement?: string;
}

export type TagConversion = { ok: true; tag: AdoptedTag } | { ok: false; reason: string };

/** Epoch's `Kind.String()` values (manifest/types.go). */
const EPOCH_KINDS: Record<string, ArtifactKind> = {
  "container-image": "CONTAINER_IMAGE",
  "cloud-image": "CLOUD_IMAGE",
  snapshot: "SNAPSHOT",
  "image-index": "IMAGE_INDEX",
};

/** Epoch's stored kind, or undefined when it is empty, "unknown" or not one of Epoch's. */
export function mapEpochKind(kind: string | undefined): ArtifactKind | undefined {
  return kind === undefined ? undefined : EPOCH_KINDS[kind];
}

export function convertEpochTag(row: EpochTagRow): TagConversion {
  if (!isRepositoryName(row.repository)) return { ok: false, reason: "repository name fails the OCI rules" };
  if (!isTagName(row.name)) return { ok: false, reason: "tag name fails the OCI rules" };
  let analysis;
  try {
    analysis = analyzeManifest(Buffer.from(row.manifestJson, "utf8"));
  } catch (e) {
    if (isEpochError(e)) return { ok: false, reason: e.message };
    throw e;
  }
  const base = {
    digest: analysis.digest,
    mediaType: analysis.mediaType,
    artifactType: analysis.artifactType ?? "",
    kind: analysis.kind,
    json: row.manifestJson,
  };
  let manifest: AdoptedManifest;
  let incomplete = false;
  if (analysis.manifest.type === "manifest") {
    const s = analysis.summary!;
    manifest = {
      ...base,
      totalSize: s.totalSize,
      layerCount: s.layerCount,
      platformSizes: null,
      children: [],
      blobs: s.blobs,
    };
  } else {
    const index = analysis.manifest;
    const platformSizes = platformSizesOf(index, row.platformSizes);
    incomplete = platformSizes.length < index.manifests.length;
    manifest = {
      ...base,
      totalSize: Math.max(0, row.totalSize),
      layerCount: index.manifests.length,
      platformSizes,
      children: index.manifests.map((d) => ({ digest: d.digest, platform: platformText(d.platform) })),
      blobs: [],
    };
  }
  const stored = mapEpochKind(row.kind);
  const disagreements = [
    `sha256:${row.digest.toLowerCase()}` !== manifest.digest &&
      `Epoch's digest ${row.digest} is not the manifest's (${manifest.digest})`,
    stored !== undefined &&
      stored !== manifest.kind &&
      `Epoch's kind "${row.kind}" is not the manifest's (${manifest.kind})`,
  ].filter((s): s is string => typeof s === "string");
  // The image's created annotation is what a sync uses, at full precision (Epoch's TIMESTAMP
  // keeps whole seconds); then Epoch's push time; then when Epoch last saw the tag.
  const pushedAt = analysis.createdAt ?? epochTime(row.pushedAt) ?? epochTime(row.syncedAt) ?? new Date(0);
  return {
    ok: true,
    tag: {
      epochId: row.id,
      repositoryId: row.repositoryId,
      repository: row.repository,
      name: row.name,
      manifest,
      pushedAt,
      incomplete,
      ...(disagreements.length > 0 && { disagreement: disagreements.join("; ") }),
    },
  };
}

/** A zero TIMESTAMP ('0000-00-00 00:00:00') reads as 0: no time at all. */
const epochTime = (ms: number | null): Date | undefined => (ms === null || ms <= 0 ? undefined : new Date(ms));

/**
 * Epoch's `[{digest, size, layerCount}]` (one per child it could read, in index order) with the
 * platform of the matching index entry, shaped as a sync writes them. Anything unreadable
 * counts as no child read.
 */
export function platformSizesOf(index: ImageIndex, stored: unknown): PlatformSizeJson[] {
  const parsed = typeof stored === "string" ? safeJson(stored) : stored;
  if (!Array.isArray(parsed)) return [];
  const out: PlatformSizeJson[] = [];
  let next = 0;
  for (const entry of parsed as unknown[]) {
    const e = entry as { digest?: unknown; size?: unknown; layerCount?: unknown } | null;
    if (!e || typeof e.digest !== "string" || !Number.isSafeInteger(e.size) || !Number.isSafeInteger(e.layerCount))
      return [];
    // Entries follow the index order; a digest listed twice matches its next occurrence.
    const at = index.manifests.findIndex((d, i) => i >= next && d.digest === e.digest);
    if (at < 0) return [];
    next = at + 1;
    const p = index.manifests[at]!.platform;
    out.push({
      digest: e.digest,
      size: e.size as number,
      layerCount: e.layerCount as number,
      os: p?.os ?? "",
      architecture: p?.architecture ?? "",
      variant: p?.variant ?? "",
    });
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
