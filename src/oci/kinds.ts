/** Artifact kinds (DESIGN.md §1): the first matching rule wins. */
import { effectiveMediaType, type ParsedManifest } from "./manifest.js";
import {
  ARTIFACT_TYPE_OS_IMAGE,
  ARTIFACT_TYPE_SNAPSHOT,
  ARTIFACT_TYPE_WINDOWS_IMAGE,
  IMAGE_CONFIG_MEDIA_TYPES,
  INDEX_MEDIA_TYPES,
} from "./media-types.js";

export const ARTIFACT_KINDS = ["CONTAINER_IMAGE", "CLOUD_IMAGE", "SNAPSHOT", "IMAGE_INDEX", "UNKNOWN"] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export function classifyManifest(m: ParsedManifest): ArtifactKind {
  const artifactType = m.declaredArtifactType;
  if (artifactType === ARTIFACT_TYPE_OS_IMAGE || artifactType === ARTIFACT_TYPE_WINDOWS_IMAGE) return "CLOUD_IMAGE";
  if (artifactType === ARTIFACT_TYPE_SNAPSHOT) return "SNAPSHOT";
  if (m.type === "manifest" && IMAGE_CONFIG_MEDIA_TYPES.has(m.config.mediaType)) return "CONTAINER_IMAGE";
  // An index without a declared mediaType is still an OCI index (the field is optional).
  if (INDEX_MEDIA_TYPES.has(effectiveMediaType(m))) return "IMAGE_INDEX";
  return "UNKNOWN";
}
