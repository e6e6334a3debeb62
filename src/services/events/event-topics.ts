/**
 * The events the service writes (DESIGN §8.6), built in one place so topics, subjects and
 * payloads stay consistent: containerd-style topics, a subject naming the object, and the
 * payload as the proto JSON of its oneof case (never a secret or a hash of one).
 */
import type { NewEvent } from "../../db/events/event-store.js";
import type { SyncCounts } from "../../db/sync-runs/sync-run-types.js";

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
  /** The kind after the change (the removed tag's kind for a delete). */
  kind?: string;
  labels?: Readonly<Record<string, string>>;
}

const tagPayload = (c: TagChange) => ({
  tag: {
    repository: c.repository,
    tag: c.tag,
    digest: c.digest ?? "",
    oldDigest: c.oldDigest ?? "",
    kind: kindName(c.kind ?? ""),
    ...(c.labels && { labels: { ...c.labels } }),
  },
});

/** /tags/create, /tags/update (digest changed) or /tags/delete; nothing for an unchanged tag. */
export function tagEvent(namespaceId: number, c: TagChange): NewEvent | undefined {
  if (c.oldDigest !== undefined && c.oldDigest === c.digest) return undefined;
  const topic =
    c.digest === undefined ? TOPICS.tagDelete : c.oldDigest === undefined ? TOPICS.tagCreate : TOPICS.tagUpdate;
  return { namespaceId, topic, subject: `${c.repository}:${c.tag}`, payload: tagPayload(c) };
}

/** /tags/update for a tag whose labels changed (its digest did not: old and new are the same). */
export function tagLabelsEvent(
  namespaceId: number,
  c: Required<Pick<TagChange, "repository" | "tag" | "digest" | "labels">> & Pick<TagChange, "kind">,
): NewEvent {
  return {
    namespaceId,
    topic: TOPICS.tagUpdate,
    subject: `${c.repository}:${c.tag}`,
    payload: tagPayload({ ...c, oldDigest: c.digest }),
  };
}

/** The tag events of a write, in order, leaving out tags whose digest did not move. */
export function tagEvents(namespaceId: number, changes: readonly TagChange[]): NewEvent[] {
  return changes.flatMap((c) => tagEvent(namespaceId, c) ?? []);
}

export function repositoryEvent(
  namespaceId: number,
  name: string,
  created: boolean,
  labels?: Readonly<Record<string, string>>,
): NewEvent {
  return {
    namespaceId,
    topic: created ? TOPICS.repositoryCreate : TOPICS.repositoryDelete,
    subject: name,
    payload: { repository: { name, ...(labels && { labels: { ...labels } }) } },
  };
}

/**
 * /namespaces/create, /namespaces/update (labels) or /namespaces/delete. The event belongs to the
 * namespace it describes (its first and its last event), and carries the name itself, so it can
 * be written in the transaction that removes the namespace row.
 */
export function namespaceEvent(
  namespace: { id: number; name: string },
  change: "create" | "update" | "delete",
  labels?: Readonly<Record<string, string>>,
): NewEvent {
  const topic = { create: TOPICS.namespaceCreate, update: TOPICS.namespaceUpdate, delete: TOPICS.namespaceDelete }[
    change
  ];
  return {
    namespaceId: namespace.id,
    namespace: namespace.name,
    topic,
    subject: namespace.name,
    payload: { namespaceEvent: { name: namespace.name, ...(labels && { labels: { ...labels } }) } },
  };
}

export interface BlobFacts {
  digest: string;
  size: number;
  mediaType: string;
}

/** /blobs/delete: a blob's index row went (its subject is the digest). */
export function blobDeleteEvent(namespace: { id: number; name?: string }, blob: BlobFacts): NewEvent {
  return {
    namespaceId: namespace.id,
    ...(namespace.name !== undefined && { namespace: namespace.name }),
    topic: TOPICS.blobDelete,
    subject: blob.digest,
    payload: { blob: { digest: blob.digest, size: blob.size, mediaType: blob.mediaType } },
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
  counts: SyncCounts;
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
        counts: { ...run.counts },
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
