/** What the read queries return: plain values, no TypeORM or gRPC types. */
import type { PlatformSizeJson } from "../entities/index.js";
import type { Labels } from "../labels/label-tables.js";

export interface RepositoryRecord {
  name: string;
  tagCount: number;
  totalSize: number;
  artifactType: string;
  /** An ArtifactKind name ("CONTAINER_IMAGE", …) or "" when not classified yet. */
  kind: string;
  createdAt: Date;
  updatedAt: Date;
  /** Key → value, sorted by key. */
  labels: Labels;
}

export interface TagRecord {
  repository: string;
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string;
  kind: string;
  totalSize: number;
  layerCount: number;
  platformSizes: PlatformSizeJson[];
  /** Only read by GetTag: lists never load manifest bytes. */
  manifestJson?: string;
  pushedAt: Date;
  indexedAt: Date;
  syncedAt: Date | null;
  incomplete: boolean;
  /** Key → value, sorted by key. */
  labels: Labels;
}

export interface BlobRecord {
  digest: string;
  size: number;
  mediaType: string;
  refCount: number;
}

export interface KindCountRecord {
  kind: string;
  tagCount: number;
}

export interface StatsRecord {
  repositoryCount: number;
  tagCount: number;
  blobCount: number;
  totalSize: number;
  lastSyncAt: Date | null;
  kinds: KindCountRecord[];
}

/** A keyset bound: the sort-key values of the last row of a page, in ORDER BY order. */
export type KeyValue = string | number;
export type KeyType = "string" | "number";

/** Rows of a keyset query, each with its sort key; `more` says whether rows follow the last one. */
export interface KeysetRows<T> {
  items: T[];
  keys: KeyValue[][];
  more: boolean;
}
