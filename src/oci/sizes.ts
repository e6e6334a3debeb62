/**
 * Per-tag sizes, layer counts and blob sets with Epoch's semantics (DESIGN.md §1). What counts is
 * the manifest's shape (image manifest vs index), not its kind: a cloud-image index is summed
 * like any other index.
 */
import {
  manifestInvalid,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type ParsedManifest,
} from "./manifest.js";

export interface BlobRef {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ManifestSummary {
  totalSize: number;
  layerCount: number;
  /** Distinct config+layer blobs, sorted by digest. */
  blobs: BlobRef[];
}

export interface PlatformSize {
  digest: string;
  size: number;
  layerCount: number;
  os: string;
  architecture: string;
  variant: string;
}

export interface IndexSummary extends ManifestSummary {
  platformSizes: PlatformSize[];
  /** True when a child could not be read: the sums cover the readable children only. */
  incomplete: boolean;
  /** Digests of the children that were not supplied, in index order. */
  missingChildren: string[];
}

/** Plain manifest: config.size + Σ layer sizes (no dedup, as Epoch), #layers, distinct blobs. */
export function summarizeImage(m: ImageManifest): ManifestSummary {
  const parts = [m.config, ...m.layers];
  return { totalSize: checkedSum(parts.map((d) => d.size)), layerCount: m.layers.length, blobs: distinctBlobs(parts) };
}

/**
 * Index: `children` maps a child digest to its parsed manifest, or to undefined (or no entry)
 * when it could not be read. layer_count = #children; total_size = Σ distinct blobs over the
 * readable children; one platform size per readable child in index order. A child that is itself
 * an index contributes a zero-size entry and no blobs (Epoch reads it as an empty manifest).
 */
export function summarizeIndex(
  index: ImageIndex,
  children: ReadonlyMap<string, ParsedManifest | undefined>,
): IndexSummary {
  const platformSizes: PlatformSize[] = [];
  const missingChildren: string[] = [];
  const parts: Descriptor[] = [];
  for (const entry of index.manifests) {
    const child = children.get(entry.digest);
    if (child === undefined) {
      missingChildren.push(entry.digest);
      continue;
    }
    const own = child.type === "manifest" ? [child.config, ...child.layers] : [];
    parts.push(...own);
    platformSizes.push({
      digest: entry.digest,
      size: checkedSum(own.map((d) => d.size)),
      layerCount: child.type === "manifest" ? child.layers.length : 0,
      os: entry.platform?.os ?? "",
      architecture: entry.platform?.architecture ?? "",
      variant: entry.platform?.variant ?? "",
    });
  }
  const blobs = distinctBlobs(parts);
  return {
    totalSize: checkedSum(blobs.map((b) => b.size)),
    layerCount: index.manifests.length,
    blobs,
    platformSizes,
    incomplete: missingChildren.length > 0,
    missingChildren,
  };
}

/** Index children as the sync must fetch them: distinct digests in first-seen order. */
export function indexChildDigests(index: ImageIndex): string[] {
  return [...new Set(index.manifests.map((d) => d.digest))];
}

/**
 * Distinct blobs by digest, sorted by digest. Should two descriptors disagree about one digest
 * (a corrupt registry), the larger size wins, then the smaller media type: the result never
 * depends on the order of the input.
 */
export function distinctBlobs(descriptors: Iterable<Descriptor>): BlobRef[] {
  const byDigest = new Map<string, BlobRef>();
  for (const d of descriptors) {
    const seen = byDigest.get(d.digest);
    if (!seen || d.size > seen.size || (d.size === seen.size && d.mediaType < seen.mediaType)) {
      byDigest.set(d.digest, { digest: d.digest, size: d.size, mediaType: d.mediaType });
    }
  }
  return [...byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
}

function checkedSum(sizes: readonly number[]): number {
  let total = 0;
  for (const s of sizes) total += s;
  if (!Number.isSafeInteger(total)) throw manifestInvalid("total size exceeds 2^53");
  return total;
}
