/**
 * The events the service writes (DESIGN §8.6), built in one place so topics, subjects and
 * payloads stay consistent: containerd-style topics, a subject naming the object, and the
 * payload as the proto JSON of its oneof case (never a secret or a hash of one).
 */
import type { NewEvent } from "../../db/events/event-store.js";

export const TOPICS = {
  repositoryCreate: "/repositories/create",
  repositoryDelete: "/repositories/delete",
  tagCreate: "/tags/create",
  tagUpdate: "/tags/update",
  tagDelete: "/tags/delete",
  blobDelete: "/blobs/delete",
  tokenCreate: "/tokens/create",
  tokenDelete: "/tokens/delete",
  namespaceCreate: "/namespaces/create",
  namespaceUpdate: "/namespaces/update",
  namespaceDelete: "/namespaces/delete",
  leaseCreate: "/leases/create",
  leaseDelete: "/leases/delete",
  uploadCommit: "/uploads/commit",
  syncFinished: "/sync/finished",
  gcFinished: "/gc/finished",
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];

/** A stored kind ("CONTAINER_IMAGE", "") as its proto enum name. */
const kindName = (kind: string) => `ARTIFACT_KIND_${kind === "" ? "UNSPECIFIED" : kind}`;

export interface TagChange {
  repository: string;
  tag: string;
  /** Undefined: the tag did not exist before. */
  oldDigest?: string;
  /** Undefined: the tag is gone. */
  digest?: string;
  kind?: string;
}

/** /tags/create, /tags/update (digest changed) or /tags/delete; nothing for an unchanged tag. */
export function tagEvent(namespaceId: number, c: TagChange): NewEvent | undefined {
  if (c.oldDigest !== undefined && c.oldDigest === c.digest) return undefined;
  const topic =
    c.digest === undefined ? TOPICS.tagDelete : c.oldDigest === undefined ? TOPICS.tagCreate : TOPICS.tagUpdate;
  return {
    namespaceId,
    topic,
    subject: `${c.repository}:${c.tag}`,
    payload: {
      tag: {
        repository: c.repository,
        tag: c.tag,
        digest: c.digest ?? "",
        oldDigest: c.oldDigest ?? "",
        kind: kindName(c.kind ?? ""),
      },
    },
  };
}

export function repositoryEvent(namespaceId: number, name: string, created: boolean): NewEvent {
  return {
    namespaceId,
    topic: created ? TOPICS.repositoryCreate : TOPICS.repositoryDelete,
    subject: name,
    payload: { repository: { name } },
  };
}

export interface TokenFacts {
  id: number;
  name: string;
  createdBy: string;
  scopes: readonly string[];
  repositories: readonly string[];
  expiresAt: Date | null;
}

export function tokenEvent(namespaceId: number, t: TokenFacts, created: boolean): NewEvent {
  return {
    namespaceId,
    topic: created ? TOPICS.tokenCreate : TOPICS.tokenDelete,
    subject: `token:${t.id}`,
    payload: {
      token: {
        id: t.id,
        name: t.name,
        createdBy: t.createdBy,
        scopes: [...t.scopes],
        repositories: [...t.repositories],
        ...(t.expiresAt && { expireTime: t.expiresAt.toISOString() }),
      },
    },
  };
}

export interface RunFacts {
  runId: number;
  /** A SyncState name without its prefix ("SUCCEEDED"). */
  state: string;
  mode: string;
  counts: Record<string, number>;
}

export function syncFinishedEvent(namespaceId: number, run: RunFacts): NewEvent {
  return {
    namespaceId,
    topic: TOPICS.syncFinished,
    subject: `sync:${run.runId}`,
    payload: {
      sync: {
        runId: run.runId,
        state: `SYNC_STATE_${run.state}`,
        mode: `SYNC_MODE_${run.mode}`,
        counts: run.counts,
      },
    },
  };
}

/** /leases/create or /leases/delete (by a caller, or by the collector for an expired lease). */
export function leaseEvent(
  namespaceId: number,
  lease: { id: string; labels: Record<string, string> },
  created: boolean,
): NewEvent {
  return {
    namespaceId,
    topic: created ? TOPICS.leaseCreate : TOPICS.leaseDelete,
    subject: `lease:${lease.id}`,
    payload: { lease: { id: lease.id, labels: { ...lease.labels } } },
  };
}

export interface CommittedUpload {
  id: string;
  repository: string;
  digest: string;
  size: number;
}

export function uploadCommitEvent(namespaceId: number, u: CommittedUpload): NewEvent {
  return {
    namespaceId,
    topic: TOPICS.uploadCommit,
    subject: `${u.repository}@${u.digest}`,
    payload: { upload: { id: u.id, repository: u.repository, digest: u.digest, size: u.size } },
  };
}

/** /blobs/delete: the garbage collector removed a blob (its index row in the marking transaction). */
export function blobDeleteEvent(
  namespaceId: number,
  blob: { digest: string; size: number; mediaType: string },
): NewEvent {
  return {
    namespaceId,
    topic: TOPICS.blobDelete,
    subject: blob.digest,
    payload: { blob: { digest: blob.digest, size: blob.size, mediaType: blob.mediaType } },
  };
}

export interface GcRunFacts {
  runId: number;
  /** A SyncState name without its prefix ("SUCCEEDED"). */
  state: string;
  blobsDeleted: number;
  manifestsDeleted: number;
  uploadsDeleted: number;
  leasesDeleted: number;
  bytesFreed: number;
}

export function gcFinishedEvent(namespaceId: number, run: GcRunFacts): NewEvent {
  return {
    namespaceId,
    topic: TOPICS.gcFinished,
    subject: `gc:${run.runId}`,
    payload: {
      gc: {
        runId: run.runId,
        state: `SYNC_STATE_${run.state}`,
        blobsDeleted: run.blobsDeleted,
        manifestsDeleted: run.manifestsDeleted,
        uploadsDeleted: run.uploadsDeleted,
        leasesDeleted: run.leasesDeleted,
        bytesFreed: run.bytesFreed,
      },
    },
  };
}
