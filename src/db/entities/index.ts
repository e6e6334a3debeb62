import { ColumnTypes, type Dialect } from "../column-types.js";
import { blobEntity } from "./blob.js";
import { coordinationEntity } from "./coordination.js";
import { leaseEntity, leaseResourceEntity, uploadEntity } from "./content-leases.js";
import { leaseLabelEntity, namespaceLabelEntity, repositoryLabelEntity, tagLabelEntity } from "./labels.js";
import { eventEntity } from "./event.js";
import { gcReviewEntity, gcRunEntity } from "./gc.js";
import { manifestBlobEntity } from "./manifest-blob.js";
import { manifestChildEntity } from "./manifest-child.js";
import { manifestEntity } from "./manifest.js";
import { namespaceEntity } from "./namespace.js";
import { registryStatsEntity } from "./registry-stats.js";
import { repositoryEntity } from "./repository.js";
import { syncRunEntity } from "./sync-run.js";
import { tagEntity } from "./tag.js";
import { tagTombstoneEntity } from "./tag-tombstone.js";
import { tokenEntity } from "./token.js";

export type { BlobRow } from "./blob.js";
export type { CoordinationRow } from "./coordination.js";
export type { LeaseResourceRow, LeaseRow, UploadRow } from "./content-leases.js";
export type { LeaseLabelRow, NamespaceLabelRow, RepositoryLabelRow, TagLabelRow } from "./labels.js";
export type { EventRow } from "./event.js";
export type { GcReviewRow, GcRunRow } from "./gc.js";
export type { ManifestBlobRow } from "./manifest-blob.js";
export type { ManifestChildRow } from "./manifest-child.js";
export type { ManifestRow, PlatformSizeJson } from "./manifest.js";
export { DEFAULT_NAMESPACE, type NamespaceRow } from "./namespace.js";
export type { RegistryStatsRow } from "./registry-stats.js";
export type { RepositoryRow } from "./repository.js";
export type { SyncFailureJson, SyncRunRow } from "./sync-run.js";
export type { TagRow } from "./tag.js";
export type { TagTombstoneRow } from "./tag-tombstone.js";
export type { TokenRow } from "./token.js";

/** Every entity of the data model, typed for one dialect. */
export function entitiesFor(dialect: Dialect) {
  const t = new ColumnTypes(dialect);
  return [
    namespaceEntity(t),
    repositoryEntity(t),
    manifestEntity(t),
    manifestChildEntity(t),
    manifestBlobEntity(t),
    tagEntity(t),
    tagTombstoneEntity(t),
    blobEntity(t),
    tokenEntity(t),
    syncRunEntity(t),
    coordinationEntity(t),
    registryStatsEntity(t),
    namespaceLabelEntity(t),
    repositoryLabelEntity(t),
    tagLabelEntity(t),
    eventEntity(t),
    leaseEntity(t),
    leaseLabelEntity(t),
    leaseResourceEntity(t),
    uploadEntity(t),
    gcReviewEntity(t),
    gcRunEntity(t),
  ];
}
