/**
 * One call from manifest bytes to the fields a tag row needs. Index children are not read here
 * (no I/O): `analyzeManifest` says which digests to fetch, `completeIndex` adds them.
 */
import { computeDigest } from "./digest.js";
import { classifyManifest, type ArtifactKind } from "./kinds.js";
import {
  createdAt,
  effectiveArtifactType,
  effectiveMediaType,
  parseManifest,
  type ParsedManifest,
} from "./manifest.js";
import { indexChildDigests, summarizeImage, summarizeIndex, type IndexSummary, type ManifestSummary } from "./sizes.js";

export interface ManifestAnalysis {
  digest: string;
  manifest: ParsedManifest;
  kind: ArtifactKind;
  mediaType: string;
  artifactType: string | undefined;
  createdAt: Date | undefined;
  /** For an image manifest, its summary; for an index, undefined until `completeIndex`. */
  summary: ManifestSummary | undefined;
  /** Child digests to read from `_digests/` (empty for an image manifest). */
  childDigests: string[];
}

export function analyzeManifest(bytes: Uint8Array): ManifestAnalysis {
  const manifest = parseManifest(bytes);
  return {
    digest: computeDigest(bytes),
    manifest,
    kind: classifyManifest(manifest),
    mediaType: effectiveMediaType(manifest),
    artifactType: effectiveArtifactType(manifest),
    createdAt: createdAt(manifest),
    summary: manifest.type === "manifest" ? summarizeImage(manifest) : undefined,
    childDigests: manifest.type === "index" ? indexChildDigests(manifest) : [],
  };
}

/** Sums an index over the children that could be read (missing ones: absent or undefined). */
export function completeIndex(
  analysis: ManifestAnalysis,
  children: ReadonlyMap<string, ParsedManifest | undefined>,
): IndexSummary {
  if (analysis.manifest.type !== "index") throw new TypeError("completeIndex needs an index");
  return summarizeIndex(analysis.manifest, children);
}
