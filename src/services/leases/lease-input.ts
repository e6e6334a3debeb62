/**
 * Input rules of LeaseService and UploadService (DESIGN §2 input rules, §8.3, §8.4), checked
 * before any database work, and who may touch a lease: its creator, or an `admin`.
 */
import { randomUUID } from "node:crypto";
import { LEASE_ID_MAX, UPLOAD_ID_MAX } from "../../db/entities/content-leases.js";
import type { LeaseRecord, LeaseResourceRecord } from "../../db/content-leases/lease-store.js";
import { invalidArgument } from "../../errors.js";
import { assertDigest, quoteForMessage } from "../../oci/names.js";
import { MAX_TTL_MS } from "../tokens/token-input.js";
import type { RepositoryBound } from "../tokens/repository-bound.js";

/**
 * Who calls: the token (undefined without authentication), whether it is an `admin` (every
 * lease and upload of the namespace; a call without authentication counts as one), and the
 * repositories it may reach.
 */
export interface Actor {
  tokenId: number | undefined;
  admin: boolean;
  bound: RepositoryBound;
}

// containerd's identifier rule: alphanumeric runs joined by single `.`, `_` or `-`; one split
// only, so no backtracking.
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

function assertIdentifier(what: string, id: string, max: number): void {
  if (id.length === 0 || id.length > max || !IDENTIFIER.test(id)) {
    throw invalidArgument(
      `invalid ${what} id ${quoteForMessage(id)}: 1–${max} letters or digits, with . _ - between them`,
      "INVALID_NAME",
    );
  }
}

export const assertLeaseId = (id: string): void => assertIdentifier("lease", id, LEASE_ID_MAX);
export const assertUploadId = (id: string): void => assertIdentifier("upload", id, UPLOAD_ID_MAX);

/** Generated ids (random UUIDs) satisfy both rules. */
export const newId = (): string => randomUUID();

/** Unset or 0 = `fallback`; negative or above 10 years is INVALID_ARGUMENT. */
export function ttl(ttlMs: number, fallback: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw invalidArgument("ttl must not be negative");
  if (ttlMs > MAX_TTL_MS) throw invalidArgument("ttl must be at most 10 years");
  return ttlMs === 0 ? fallback : Math.ceil(ttlMs);
}

/** A resource as the API names it: a digest for blobs and manifests, an upload id for uploads. */
export function checkResource(resource: LeaseResourceRecord | undefined): LeaseResourceRecord {
  if (!resource) throw invalidArgument("resource is required");
  if (resource.kind === "upload") assertUploadId(resource.id);
  else assertDigest(resource.id);
  return resource;
}

/** Whether the actor may see and change this lease; others are told it does not exist. */
export function mayManage(actor: Actor, lease: Pick<LeaseRecord, "ownerTokenId">): boolean {
  return actor.admin || (actor.tokenId !== undefined && lease.ownerTokenId === actor.tokenId);
}
