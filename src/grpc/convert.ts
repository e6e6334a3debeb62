/** Domain records → proto messages (ts-proto shapes: int64 as number, Timestamp as Date). */
import type { GetStatsResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import {
  ArtifactKind,
  type Blob,
  type KindCount,
  type PlatformSize,
  type Repository,
  type Tag,
} from "epoch-meta-client/epoch/v1/resources";
import type { PlatformSizeJson } from "../db/entities/index.js";
import type {
  BlobRecord,
  KindCountRecord,
  RepositoryRecord,
  StatsRecord,
  TagRecord,
} from "../services/queries/metadata-queries.js";

/** A stored kind name ("CONTAINER_IMAGE") as the enum; "" (not classified) is UNSPECIFIED. */
export function kindToProto(kind: string): ArtifactKind {
  if (kind === "") return ArtifactKind.ARTIFACT_KIND_UNSPECIFIED;
  const value = ArtifactKind[`ARTIFACT_KIND_${kind}` as keyof typeof ArtifactKind];
  // A name this build does not know (written by a newer one) is still a kind, just not ours.
  return value === undefined || value === ArtifactKind.UNRECOGNIZED ? ArtifactKind.ARTIFACT_KIND_UNKNOWN : value;
}

export function repositoryToProto(r: RepositoryRecord): Repository {
  return {
    name: r.name,
    tagCount: r.tagCount,
    totalSize: r.totalSize,
    artifactType: r.artifactType,
    kind: kindToProto(r.kind),
    createTime: r.createdAt,
    updateTime: r.updatedAt,
    labels: r.labels,
  };
}

export function platformSizeToProto(p: PlatformSizeJson): PlatformSize {
  return {
    digest: p.digest,
    size: p.size,
    layerCount: p.layerCount,
    os: p.os ?? "",
    architecture: p.architecture ?? "",
    variant: p.variant ?? "",
  };
}

/** `manifest_json` is set only when the record carries it (GetTag, IndexTag), never by lists. */
export function tagToProto(t: TagRecord): Tag {
  return {
    repository: t.repository,
    name: t.name,
    digest: t.digest,
    mediaType: t.mediaType,
    artifactType: t.artifactType,
    kind: kindToProto(t.kind),
    totalSize: t.totalSize,
    layerCount: t.layerCount,
    platformSizes: t.platformSizes.map(platformSizeToProto),
    manifestJson: t.manifestJson ?? "",
    pushTime: t.pushedAt,
    // The last time the index read this tag from the object store (a sync or IndexTag).
    syncTime: t.syncedAt !== null && t.syncedAt > t.indexedAt ? t.syncedAt : t.indexedAt,
    incomplete: t.incomplete,
    labels: t.labels,
  };
}

export function blobToProto(b: BlobRecord): Blob {
  return { digest: b.digest, size: b.size, mediaType: b.mediaType, refCount: b.refCount };
}

export function kindCountToProto(k: KindCountRecord): KindCount {
  return { kind: kindToProto(k.kind), tagCount: k.tagCount };
}

export function statsToProto(s: StatsRecord): GetStatsResponse {
  return {
    repositoryCount: s.repositoryCount,
    tagCount: s.tagCount,
    blobCount: s.blobCount,
    totalSize: s.totalSize,
    lastSyncTime: s.lastSyncAt ?? undefined,
    kinds: s.kinds.map(kindCountToProto),
  };
}
