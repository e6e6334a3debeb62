/**
 * Candidates in, deletions out, in batches: a batch of up to 1000 candidates is re-checked and
 * marked in one fenced transaction (the index commits first), and marked objects are deleted
 * 1000 keys to a request — a DeleteObjects on S3 — whatever mix of batches they came from, so a
 * full run sends about one delete request per 1000 deletions. One delete batch is in flight while
 * the next candidates are listed and marked — never two, so the store sees the concurrency a bare
 * delete of the same keys would give it. A dry run marks in a transaction it rolls back, so it
 * reports exactly what a real run would take, and deletes nothing.
 */
import type { EntityManager } from "typeorm";
import { appendEvents } from "../../db/events/event-store.js";
import { markCandidates, type Candidate, type MarkOutcome } from "../../db/gc/gc-marking.js";
import type { ReviewItem } from "../../db/gc/review-queue.js";
import { writeTransaction } from "../../db/write-transaction.js";
import { aborted } from "../../errors.js";
import { MAX_DELETE_BATCH } from "../../storage/object-store.js";
import { blobKey, manifestDigestKey } from "../../storage/registry-layout.js";
import { blobDeleteEvent } from "../events/event-topics.js";
import type { CollectContext } from "./gc-context.js";
import type { GcDeletion } from "./gc-types.js";

/** An upload's staging objects, reported as one deletion once every object is gone. */
interface UploadDeletion {
  deletion: GcDeletion;
  remaining: number;
  failed: boolean;
}

type PendingDelete = { key: string; candidate: Candidate } | { key: string; upload: UploadDeletion };

/** Thrown out of a dry run's marking transaction so it rolls back, carrying what it decided. */
class DryRunRollback extends Error {
  constructor(readonly outcome: MarkOutcome) {
    super("dry run: rolled back");
  }
}

export const keyOf = (c: ReviewItem): string =>
  c.kind === "blob" ? blobKey(c.digest) : manifestDigestKey(c.repository, c.digest);

export class DeletionPipeline {
  private toMark: Candidate[] = [];
  private toDelete: PendingDelete[] = [];
  private committedOnce = false;
  /** The delete batch in flight, if any (its failure is thrown by the next `settle`). */
  private inFlight: Promise<void> | undefined;
  private examined = 0;
  /** Objects whose delete failed: they stay `deleting` for the next run. */
  readonly failed: ReviewItem[] = [];
  marked = 0;
  deleted = 0;
  /** Every marked object was sent to the store (the run may then record its rows `deleted`). */
  flushed = false;

  constructor(private readonly c: CollectContext) {}

  /** Takes candidates; marks (and deletes) whenever a batch is full. */
  async add(candidates: readonly Candidate[]): Promise<void> {
    this.c.counts.candidates += candidates.length;
    this.toMark.push(...candidates);
    while (this.toMark.length >= MAX_DELETE_BATCH) await this.mark(this.toMark.splice(0, MAX_DELETE_BATCH));
  }

  /** Objects the index already gave up (an upload's staging objects, a crashed run's marked rows). */
  async addMarked(items: readonly Candidate[]): Promise<void> {
    for (const candidate of items) this.toDelete.push({ key: keyOf(candidate), candidate });
    this.marked += items.length;
    await this.deleteFullBatches();
  }

  /** An upload's staging objects (listed now unless the inventory listed them already). */
  async deleteUpload(id: string, prefix: string, listed?: { keys: string[]; size: number }): Promise<void> {
    let objects = listed;
    if (!objects) {
      objects = { keys: [], size: 0 };
      for await (const o of this.c.store.list(prefix)) {
        objects.keys.push(o.key);
        objects.size += o.size;
      }
    }
    await this.addUpload({ kind: "UPLOAD", key: prefix, digest: id, size: objects.size }, objects.keys);
  }

  async addUpload(deletion: GcDeletion, keys: readonly string[]): Promise<void> {
    if (this.c.flags.dryRun || keys.length === 0) {
      this.report(deletion);
      return;
    }
    const upload: UploadDeletion = { deletion, remaining: keys.length, failed: false };
    for (const key of keys) this.toDelete.push({ key, upload });
    await this.deleteFullBatches();
  }

  /** Marks the candidates taken so far (before another phase may offer the same objects again). */
  async markTaken(): Promise<void> {
    if (this.toMark.length > 0) await this.mark(this.toMark.splice(0));
  }

  /** Marks what is left, then deletes everything marked. */
  async flush(): Promise<void> {
    if (this.toMark.length > 0) await this.mark(this.toMark.splice(0));
    while (this.toDelete.length > 0) await this.startDelete(this.toDelete.splice(0, MAX_DELETE_BATCH));
    await this.settle();
    this.flushed = true;
  }

  /**
   * Waits for the delete batch in flight; throws its failure. A run that stops early settles
   * before it ends, so no deletion is reported after its `finished`.
   */
  async settle(): Promise<void> {
    const batch = this.inFlight;
    this.inFlight = undefined;
    await batch;
  }

  private async mark(batch: Candidate[]): Promise<void> {
    const c = this.c;
    const outcome = await this.markTransaction(batch);
    this.marked += outcome.marked.length;
    c.hub.progress("MARK", (this.examined += batch.length), 0);
    if (c.flags.dryRun) {
      for (const candidate of outcome.marked) this.reportCandidate(candidate);
      return;
    }
    for (const candidate of outcome.marked) this.toDelete.push({ key: keyOf(candidate), candidate });
    if (!this.committedOnce) {
      this.committedOnce = true;
      await c.faultPoints?.("after-mark");
    }
    await this.deleteFullBatches();
  }

  private async markTransaction(batch: Candidate[]): Promise<MarkOutcome> {
    const c = this.c;
    const run = async (m: EntityManager): Promise<MarkOutcome> => {
      if (!(await c.leases.fence(m, c.lease, c.holder, c.runId)))
        throw aborted("this run lost its lease (another replica took over); it marked nothing more", "LEASE_LOST");
      const outcome = await markCandidates(m, c.scope, batch, {
        runId: c.runId,
        gracePeriodMs: c.flags.gracePeriodMs,
        held: (tx, digests) => c.holds.held(tx, digests),
      });
      if (c.flags.dryRun) throw new DryRunRollback(outcome);
      await appendEvents(
        m,
        c.scope.dialect,
        outcome.blobs.map((b) => blobDeleteEvent({ id: c.scope.namespaceId }, b)),
      );
      return outcome;
    };
    try {
      return await writeTransaction(c.db, run, { isolation: "READ COMMITTED", attempts: 5 });
    } catch (e) {
      if (e instanceof DryRunRollback) return e.outcome;
      throw e;
    }
  }

  private async deleteFullBatches(): Promise<void> {
    while (this.toDelete.length >= MAX_DELETE_BATCH) await this.startDelete(this.toDelete.splice(0, MAX_DELETE_BATCH));
  }

  /** Starts a batch once the one before it is done; the caller goes on meanwhile. */
  private async startDelete(batch: PendingDelete[]): Promise<void> {
    await this.settle();
    const started = this.deleteBatch(batch);
    // Handled here so a failure is not "unhandled" while nobody awaits; settle() rethrows it.
    started.catch(() => undefined);
    this.inFlight = started;
  }

  private async deleteBatch(batch: PendingDelete[]): Promise<void> {
    const c = this.c;
    const failures = await c.store.deleteObjects(batch.map((p) => p.key));
    const failed = new Set(failures.map((f) => f.key));
    for (const p of batch) {
      const ok = !failed.has(p.key);
      if ("candidate" in p) {
        if (ok) this.reportCandidate(p.candidate);
        else this.failed.push(p.candidate);
      } else {
        p.upload.failed ||= !ok;
        if (--p.upload.remaining === 0 && !p.upload.failed) this.report(p.upload.deletion);
      }
    }
    c.counts.deleteFailures += failed.size;
    this.deleted += batch.length - failed.size;
    c.hub.progress("DELETE", this.deleted, this.marked);
    await c.faultPoints?.("after-delete-batch");
  }

  private reportCandidate(candidate: Candidate): void {
    this.report({
      kind: candidate.kind === "blob" ? "BLOB" : "MANIFEST",
      key: keyOf(candidate),
      digest: candidate.digest,
      size: candidate.size,
    });
  }

  private report(d: GcDeletion): void {
    const counts = this.c.counts;
    if (d.kind === "BLOB") counts.blobsDeleted++;
    else if (d.kind === "MANIFEST") counts.manifestsDeleted++;
    else if (d.kind === "UPLOAD") counts.uploadsDeleted++;
    else counts.leasesDeleted++;
    counts.bytesFreed += d.size;
    this.c.hub.deletion(d);
  }

  /** For deletions made outside the pipeline (leases). */
  reportDeletion(d: GcDeletion): void {
    this.report(d);
  }
}
