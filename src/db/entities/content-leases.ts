import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/**
 * Leases, their resources and uploads (DESIGN §8.3, §8.4; containerd's leases and ingests),
 * per namespace and keyed by (namespace_id, id) like the other per-namespace tables. Not to be
 * confused with the coordination leases of db/leases.ts (sync and migration single flight).
 *
 * - `leases`: a caller-chosen or generated id, its owner (the token that created it, so a
 *   non-admin caller manages only its own), and an optional expiry (database clock). Labels live
 *   in `lease_labels` (entities/labels.ts).
 * - `lease_resources`: what a lease holds — a blob or manifest digest, or an upload id — removed
 *   with the lease. It may name something that does not exist yet. The (namespace, kind,
 *   resource) index answers "is this digest leased?" with one probe.
 * - `uploads`: an upload session; its staging prefix is `_uploads/<id>/`. `state` is open,
 *   committed or aborted; `digest`/`size` are set on commit.
 */
export interface LeaseRow {
  namespaceId: number;
  id: string;
  /** The token that created it; null when authentication was off. */
  ownerTokenId: number | null;
  createdAt: Date;
  /** Null = never expires. */
  expiresAt: Date | null;
}

export interface LeaseResourceRow {
  namespaceId: number;
  leaseId: string;
  /** "blob", "manifest" or "upload". */
  kind: string;
  resourceId: string;
  createdAt: Date;
}

export interface UploadRow {
  namespaceId: number;
  id: string;
  repository: string;
  /** "" = not announced. */
  expectedDigest: string;
  /** "" = no lease. */
  leaseId: string;
  /** "open", "committed" or "aborted". */
  state: string;
  startedAt: Date;
  expiresAt: Date | null;
  /** The committed blob ("" until committed). */
  digest: string;
  size: number;
  mediaType: string;
  committedAt: Date | null;
}

export const LEASE_ID_MAX = 76;
export const RESOURCE_ID_MAX = 128;
export const UPLOAD_ID_MAX = 64;

export const leaseEntity = (t: ColumnTypes) =>
  defineEntity<LeaseRow>("Lease", "leases", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      id: ["id", { ...t.key(LEASE_ID_MAX), primary: true }],
      ownerTokenId: ["owner_token_id", t.ref(true)],
      createdAt: ["created_at", t.time()],
      expiresAt: ["expires_at", t.time(true)],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_leases_namespace", "NO ACTION") },
    indices: [{ name: "ix_leases_expires_at", columns: ["namespaceId", "expiresAt"] }],
  });

export const leaseResourceEntity = (t: ColumnTypes) =>
  defineEntity<LeaseResourceRow>("LeaseResource", "lease_resources", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      leaseId: ["lease_id", { ...t.key(LEASE_ID_MAX), primary: true }],
      kind: ["kind", { ...t.key(16), primary: true }],
      resourceId: ["resource_id", { ...t.key(RESOURCE_ID_MAX), primary: true }],
      createdAt: ["created_at", t.time()],
    },
    foreignKeys: [
      {
        name: "fk_lease_resources_lease",
        target: "Lease",
        columnNames: ["namespaceId", "leaseId"],
        referencedColumnNames: ["namespaceId", "id"],
        onDelete: "CASCADE",
        onUpdate: "NO ACTION",
      },
    ],
    indices: [{ name: "ix_lease_resources_resource", columns: ["namespaceId", "kind", "resourceId"] }],
  });

export const uploadEntity = (t: ColumnTypes) =>
  defineEntity<UploadRow>("Upload", "uploads", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      id: ["id", { ...t.key(UPLOAD_ID_MAX), primary: true }],
      repository: ["repository", t.key(255)],
      expectedDigest: ["expected_digest", { ...t.key(71), default: "" }],
      leaseId: ["lease_id", { ...t.key(LEASE_ID_MAX), default: "" }],
      state: ["state", t.string(16)],
      startedAt: ["started_at", t.time()],
      expiresAt: ["expires_at", t.time(true)],
      digest: ["digest", { ...t.key(71), default: "" }],
      size: ["size", t.bigint()],
      mediaType: ["media_type", t.string(255, false, "")],
      committedAt: ["committed_at", t.time(true)],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_uploads_namespace", "NO ACTION") },
    indices: [
      { name: "ix_uploads_state_expires_at", columns: ["namespaceId", "state", "expiresAt"] },
      { name: "ix_uploads_expected_digest", columns: ["namespaceId", "expectedDigest"] },
      { name: "ix_uploads_digest", columns: ["namespaceId", "digest"] },
      { name: "ix_uploads_lease", columns: ["namespaceId", "leaseId"] },
    ],
  });
