/**
 * UploadService's domain (DESIGN §8.4; containerd's ingests) for one namespace. An upload is a
 * row with an id, a staging prefix `_uploads/<id>/` and an expiry; CommitUpload checks the blob
 * object with one HEAD — outside any transaction — and then, in one transaction that re-reads
 * the upload, records the blob unreferenced (ref_count 0), hands it to the upload's lease and
 * appends `/uploads/commit`. Staged objects of aborted and expired uploads are the collector's
 * (db/content-leases/gc-roots.ts).
 */
import type { Database } from "../../db/data-source.js";
import { addLeaseResource, findLiveLease } from "../../db/content-leases/lease-store.js";
import { appendEvents } from "../../db/events/event-store.js";
import { collectedAmong, queueUnreferencedBlobs, reviveDeleted } from "../../db/gc/review-queue.js";
import { keyTypes } from "../../db/queries/keyset.js";
import { findBlob } from "../../db/queries/blob-queries.js";
import type { BlobRecord } from "../../db/queries/records.js";
import {
  findUpload,
  insertUpload,
  listUploadPage,
  markUploadAborted,
  markUploadCommitted,
  recordCommittedBlob,
  UPLOAD_SORT,
  type UploadRecord,
} from "../../db/uploads/upload-store.js";
import { writeTransaction } from "../../db/write-transaction.js";
import { failedPrecondition, invalidArgument, notFound } from "../../errors.js";
import { assertDigest, quoteForMessage } from "../../oci/names.js";
import type { ObjectHead } from "../../storage/object-store.js";
import { uploadCommitEvent } from "../events/event-topics.js";
import { assertLeaseId, assertUploadId, mayManage, newId, ttl, type Actor } from "../leases/lease-input.js";
import { leaseNotFound } from "../leases/lease-service.js";
import { readPage } from "../queries/filtered-page.js";
import { compileListFilter, type FilterFields } from "../queries/filter/list-filter.js";
import { pageSize } from "../queries/list-options.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../queries/page-token.js";
import { requireRepository } from "../tokens/repository-bound.js";

export type { UploadRecord };

export interface StartUploadInput {
  repository: string;
  /** "" = not announced. */
  expectedDigest: string;
  /** "" = no lease. */
  leaseId: string;
  /** 0 = the server's default (EPOCH_UPLOAD_TTL). */
  ttlMs: number;
}

export interface CommitUploadInput {
  id: string;
  digest: string;
  size: number;
  mediaType: string;
}

/** Stored states are lower case; the enum names (UPLOAD_STATE_OPEN) are accepted too. */
const normalizeState = (v: string) => (v.startsWith("UPLOAD_STATE_") ? v.slice(13).toLowerCase() : v);

export const UPLOAD_FILTER_FIELDS: FilterFields<UploadRecord> = {
  id: { get: (u) => u.id },
  repository: { get: (u) => u.repository },
  state: { get: (u) => u.state, normalize: normalizeState },
  expected_digest: { get: (u) => u.expectedDigest },
  digest: { get: (u) => u.digest },
  lease_id: { get: (u) => u.leaseId },
};

const MAX_MEDIA_TYPE = 255;

const uploadNotFound = (id: string, why = "not found") =>
  notFound(`upload ${quoteForMessage(id)} ${why}`, "UPLOAD_NOT_FOUND");

export interface UploadServiceOptions {
  /** EPOCH_UPLOAD_TTL: the expiry of an upload started without a ttl. */
  defaultTtlMs: number;
  /** HEAD of `blobs/sha256/<hex>` in the namespace's root (storage/registry-layout.ts headBlob). */
  headBlob(digest: string): Promise<ObjectHead | null>;
}

export class UploadService {
  constructor(
    private readonly db: Database,
    private readonly namespaceId: number,
    private readonly options: UploadServiceOptions,
  ) {}

  async start(input: StartUploadInput, actor: Actor): Promise<UploadRecord> {
    requireRepository(actor.bound, input.repository);
    if (input.expectedDigest !== "") assertDigest(input.expectedDigest);
    if (input.leaseId !== "") assertLeaseId(input.leaseId);
    const ttlMs = ttl(input.ttlMs, this.options.defaultTtlMs);
    const { db, namespaceId } = this;
    const id = newId();
    return writeTransaction(db, async (m) => {
      if (input.leaseId !== "") {
        const lease = await findLiveLease(m, db.dialect, namespaceId, input.leaseId, true);
        if (!lease || !mayManage(actor, lease)) throw leaseNotFound(input.leaseId);
        await addLeaseResource(m, db.dialect, namespaceId, input.leaseId, { kind: "upload", id });
      }
      await insertUpload(m, db.dialect, { namespaceId, id, ...input, ttlMs });
      return (await findUpload(m, db.dialect, namespaceId, id))!;
    });
  }

  async get(id: string, actor: Actor): Promise<UploadRecord> {
    return this.find(id, actor);
  }

  /** Every upload of the namespace, in id order (the caller is an admin: grpc/auth.ts). */
  async list(req: {
    pageSize: number;
    pageToken: string;
    filter: readonly string[];
  }): Promise<{ uploads: UploadRecord[]; nextPageToken: string }> {
    const limit = pageSize(req.pageSize);
    const filter = compileListFilter(req.filter, UPLOAD_FILTER_FIELDS);
    const query: PageQuery = { list: "uploads", order: "id", scope: filter?.key ?? [], namespace: this.namespaceId };
    const after = decodePageToken(req.pageToken, query, keyTypes(UPLOAD_SORT));
    const page = await readPage(
      (from, rows) =>
        listUploadPage(this.db, { namespaceId: this.namespaceId, after: from, limit: rows, filter: filter?.condition }),
      after,
      limit,
      filter?.matches,
    );
    return { uploads: page.items, nextPageToken: page.lastKey ? encodePageToken(query, page.lastKey) : "" };
  }

  async commit(input: CommitUploadInput, actor: Actor): Promise<BlobRecord> {
    assertDigest(input.digest);
    if (!Number.isSafeInteger(input.size) || input.size < 0)
      throw invalidArgument("size must be a whole number of bytes, 0 or more");
    if (input.mediaType.length > MAX_MEDIA_TYPE || /[^\x20-\x7e]/.test(input.mediaType))
      throw invalidArgument(`media_type must be at most ${MAX_MEDIA_TYPE} printable ASCII characters`);
    const upload = await this.find(input.id, actor);
    checkCommittable(upload, input.digest);
    if (upload.state === "open") {
      // The object store is asked outside any transaction; the transaction re-checks the upload.
      const head = await this.options.headBlob(input.digest);
      if (!head) throw failedPrecondition(`blob ${input.digest} is not in the object store`, "BLOB_MISSING");
      if (head.size !== input.size) {
        throw failedPrecondition(
          `blob ${input.digest} has ${head.size} bytes in the object store, not ${input.size}`,
          "SIZE_MISMATCH",
        );
      }
      await this.record(upload.id, input);
    }
    return (await findBlob(this.db, this.namespaceId, input.digest))!;
  }

  /** Idempotent for an open, expired or aborted upload; a committed one has nothing left to abort. */
  async abort(id: string, actor: Actor): Promise<void> {
    const upload = await this.find(id, actor);
    if (upload.state === "aborted") return;
    await writeTransaction(this.db, async (m) => {
      const now = await findUpload(m, this.db.dialect, this.namespaceId, id, true);
      if (!now) throw uploadNotFound(id);
      if (now.state === "committed") throw uploadNotFound(id, "was committed: there is nothing to abort");
      await markUploadAborted(m, this.namespaceId, id);
    });
  }

  /**
   * The commit's transaction. The collector may be deleting this blob's object, or have deleted
   * it (review queue): still deleting → BLOB_UNKNOWN (push it again later); deleted and back in the
   * store (HEAD after seeing the row) → the queue forgets it and the commit goes on, as IndexTag does.
   */
  private async record(id: string, blob: Omit<CommitUploadInput, "id">): Promise<void> {
    try {
      await this.recordOnce(id, blob);
    } catch (e) {
      if (!(e instanceof CollectedBlob)) throw e;
      const head = e.state === "deleted" ? await this.options.headBlob(blob.digest) : null;
      if (!head || head.size !== blob.size) {
        throw failedPrecondition(
          `blob ${blob.digest} is being removed by garbage collection: push it again`,
          "BLOB_UNKNOWN",
        );
      }
      const scope = { dialect: this.db.dialect, namespaceId: this.namespaceId };
      await writeTransaction(this.db, (m) =>
        reviveDeleted(m, scope, [{ kind: "blob", repository: "", digest: blob.digest }]),
      );
      await this.recordOnce(id, blob);
    }
  }

  private async recordOnce(id: string, blob: Omit<CommitUploadInput, "id">): Promise<void> {
    const { db, namespaceId } = this;
    const scope = { dialect: db.dialect, namespaceId };
    await writeTransaction(db, async (m) => {
      const upload = await findUpload(m, db.dialect, namespaceId, id, true);
      if (!upload) throw uploadNotFound(id);
      checkCommittable(upload, blob.digest);
      // Committed meanwhile by a retry of the same call: done.
      if (upload.state === "committed") return;
      const [collected] = await collectedAmong(m, scope, [{ kind: "blob", repository: "", digest: blob.digest }]);
      if (collected) throw new CollectedBlob(collected.state);
      const refCount = await recordCommittedBlob(m, db.dialect, namespaceId, blob);
      // Unreferenced from now: the collector reviews it after the grace period (unless leased).
      if (refCount === 0) await queueUnreferencedBlobs(m, scope, [blob.digest]);
      await markUploadCommitted(m, db.dialect, namespaceId, id, blob);
      if (upload.leaseId !== "" && (await findLiveLease(m, db.dialect, namespaceId, upload.leaseId, true)))
        await addLeaseResource(m, db.dialect, namespaceId, upload.leaseId, { kind: "blob", id: blob.digest });
      await appendEvents(m, db.dialect, [
        uploadCommitEvent(namespaceId, { id, repository: upload.repository, digest: blob.digest, size: blob.size }),
      ]);
    });
  }

  /** The upload, if it exists and its repository is inside the actor's bound. */
  private async find(id: string, actor: Actor): Promise<UploadRecord> {
    assertUploadId(id);
    const upload = await findUpload(this.db, this.db.dialect, this.namespaceId, id);
    if (!upload) throw uploadNotFound(id);
    requireRepository(actor.bound, upload.repository);
    return upload;
  }
}

/** The collector has this blob's object in hand (review queue state deleting or deleted). */
class CollectedBlob extends Error {
  constructor(readonly state: "deleting" | "deleted") {
    super(`blob is ${state} by garbage collection`);
  }
}

/**
 * Whether `digest` may be committed to this upload: a set expected digest must match; an aborted
 * upload is gone; an expired one can no longer be committed; a committed one only answers again
 * for the same digest (a retried call).
 */
function checkCommittable(upload: UploadRecord, digest: string): void {
  if (upload.expectedDigest !== "" && upload.expectedDigest !== digest) {
    throw invalidArgument(
      `digest ${digest} differs from the upload's expected digest ${upload.expectedDigest}`,
      "INVALID_DIGEST",
    );
  }
  if (upload.state === "aborted") throw uploadNotFound(upload.id, "was aborted");
  if (upload.state === "committed" && upload.digest !== digest)
    throw invalidArgument(`upload ${quoteForMessage(upload.id)} was committed as ${upload.digest}`, "INVALID_DIGEST");
  if (upload.expired) throw failedPrecondition(`upload ${quoteForMessage(upload.id)} has expired`, "UPLOAD_EXPIRED");
}
