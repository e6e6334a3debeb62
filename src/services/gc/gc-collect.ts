/**
 * One collection after its sync, DESIGN §8.5, phase by phase: finish what a crashed run marked,
 * delete expired leases, remove dead uploads, review the due queue rows (online: the cost of what
 * changed), and for a full run take an inventory of the registry root. Candidates flow through
 * the DeletionPipeline (mark in the index first, then delete the objects in batches).
 */
import { mapBounded } from "../../bounded.js";
import type { Candidate } from "../../db/gc/gc-marking.js";
import { adoptLeftovers, queueRows, type QueueRow } from "../../db/gc/gc-queue-reads.js";
import { appendEvents } from "../../db/events/event-store.js";
import { leaseEvent } from "../events/event-topics.js";
import { fenced, type CollectContext } from "./gc-context.js";
import { takeInventory } from "./gc-inventory.js";
import { DeletionPipeline, keyOf } from "./gc-pipeline.js";
import { SimulatedGcCrash } from "./gc-types.js";

const PAGE = 1000;
/** A dry run cannot page by deleting: it looks at this many leases and uploads at most. */
const DRY_RUN_LIMIT = 100_000;

export async function collect(c: CollectContext): Promise<DeletionPipeline> {
  const pipeline = new DeletionPipeline(c);
  try {
    await collectInto(c, pipeline);
  } catch (e) {
    // A failed run still waits for the delete batch in flight (its rows stay `deleting` if it
    // fails too); a simulated crash there wins, as it would have stopped the process first.
    await pipeline.settle().catch((batchError: unknown) => {
      if (batchError instanceof SimulatedGcCrash) throw batchError;
    });
    throw e;
  }
  return pipeline;
}

async function collectInto(c: CollectContext, pipeline: DeletionPipeline): Promise<void> {
  if (!c.flags.dryRun) await finishLeftovers(c, pipeline);
  await collectLeases(c, pipeline);
  await collectUploads(c, pipeline);
  await reviewQueue(c, pipeline);
  if (c.flags.full && !c.signal.aborted) {
    // The inventory lists what the queue offered too: those are marked (or kept) by now.
    await pipeline.markTaken();
    await takeInventory(c, pipeline);
  }
  // What is marked is deleted even after a cancel or a lost lease: the index already gave it up.
  await pipeline.flush();
}

/** Rows a crashed run marked `deleting`: their objects may still exist, so this run deletes them. */
async function finishLeftovers(c: CollectContext, pipeline: DeletionPipeline): Promise<void> {
  for (;;) {
    const rows = await queueRows(c.db, c.scope, { state: "deleting", exceptRunId: c.runId, limit: PAGE });
    if (rows.length === 0 || c.signal.aborted) return;
    await fenced(c, (m) => adoptLeftovers(m, c.scope, c.runId, rows));
    await pipeline.addMarked(rows.map((r) => ({ ...r, lastModified: r.unreferencedAt })));
  }
}

async function collectLeases(c: CollectContext, pipeline: DeletionPipeline): Promise<void> {
  for (;;) {
    if (c.signal.aborted) return;
    const ids = await c.holds.expiredLeases(c.flags.dryRun ? DRY_RUN_LIMIT : PAGE);
    if (ids.length === 0) return;
    const deleted = c.flags.dryRun
      ? ids.map((id) => ({ id }))
      : await fenced(c, async (m) => {
          const gone = await c.holds.deleteExpiredLeases(m, ids);
          await appendEvents(
            m,
            c.scope.dialect,
            gone.map((l) => leaseEvent(c.scope.namespaceId, l, false)),
          );
          return gone;
        });
    for (const l of deleted) pipeline.reportDeletion({ kind: "LEASE", key: "", digest: l.id, size: 0 });
    if (c.flags.dryRun || deleted.length === 0) return;
  }
}

/** Aborted, expired and old committed uploads: their rows go first, then their staging objects. */
async function collectUploads(c: CollectContext, pipeline: DeletionPipeline): Promise<void> {
  for (;;) {
    if (c.signal.aborted) return;
    const dead = await c.holds.deadUploads(c.flags.dryRun ? DRY_RUN_LIMIT : PAGE);
    if (dead.length === 0) return;
    if (c.flags.dryRun) {
      for (const u of dead)
        await pipeline.addUpload({ kind: "UPLOAD", key: u.objectPrefix, digest: u.id, size: 0 }, []);
      return;
    }
    const removed = new Set(
      await fenced(c, (m) =>
        c.holds.markUploadsRemoved(
          m,
          dead.map((u) => u.id),
        ),
      ),
    );
    for (const u of dead.filter((d) => removed.has(d.id))) await pipeline.deleteUpload(u.id, u.objectPrefix);
    if (removed.size === 0) return;
  }
}

/** Due pending rows, in the state index's order: each is HEADed (its Last-Modified and size), then re-checked. */
async function reviewQueue(c: CollectContext, pipeline: DeletionPipeline): Promise<void> {
  let after: QueueRow | undefined;
  for (;;) {
    if (c.signal.aborted) return;
    const rows = await queueRows(c.db, c.scope, {
      state: "pending",
      dueAfterMs: c.flags.gracePeriodMs,
      ...(after && { after }),
      limit: PAGE,
    });
    if (rows.length === 0) return;
    after = rows.at(-1);
    const candidates = await headAll(
      c,
      rows.filter((r) => r.kind !== "upload"),
    );
    await pipeline.add(candidates);
  }
}

async function headAll(c: CollectContext, rows: readonly QueueRow[]): Promise<Candidate[]> {
  return mapBounded(rows, c.concurrency, async (row) => {
    const head = await c.store.head(keyOf(row), { etag: false });
    return {
      kind: row.kind,
      repository: row.repository,
      digest: row.digest,
      lastModified: head?.lastModified ?? null,
      size: head?.size ?? row.size,
    };
  });
}
