/**
 * The facts the index stores about one tag and its manifest, as read from the object store
 * (services/tags/tag-reader.ts) or converted from an Epoch database (epoch-adoption/).
 */
import type { PlatformSizeJson } from "../entities/index.js";
import type { ArtifactKind } from "../../oci/kinds.js";
import type { BlobRef } from "../../oci/sizes.js";

export interface ManifestFacts {
  digest: string;
  mediaType: string;
  artifactType: string;
  kind: ArtifactKind;
  /** The raw manifest bytes as text. */
  json: string;
  totalSize: number;
  layerCount: number;
  /** One entry per readable child of an index, in index order; null for an image manifest. */
  platformSizes: PlatformSizeJson[] | null;
  /** An index's entries in order (all of them, readable or not). */
  children: Array<{ digest: string; platform: string }>;
  /** Distinct config+layer blobs (an index: over its readable children). */
  blobs: BlobRef[];
  /** False for an index some of whose children could not be read. */
  complete: boolean;
}

export interface TagFacts {
  repository: string;
  tag: string;
  manifest: ManifestFacts;
  /** The image's `created` annotation, else the object's Last-Modified; kept while the digest is unchanged. */
  pushedAt: Date;
  objectEtag: string;
  incomplete: boolean;
}
