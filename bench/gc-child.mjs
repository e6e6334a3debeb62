/**
 * The measuring process of bench/gc.ts, on the compiled service (dist/), so its peak RSS is a
 * collection's. Two phases, each a fresh process:
 *
 *   node bench/gc-child.mjs '{"phase":"index",…}'    a full sync builds the index (not measured)
 *   node bench/gc-child.mjs '{"phase":"collect",…}'  the full run; the bare deletes of the same keys
 *                                                    (put back first) in the same process; then one
 *                                                    tag deleted and an online run
 *
 * One JSON line of table rows on stdout.
 */
/* global process, performance, Buffer */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { openDatabase } from "../dist/src/db/data-source.js";
import { migrate } from "../dist/src/db/migrate.js";
import { namespaceIdOf } from "../dist/src/db/queries/namespaces.js";
import { configureLogger } from "../dist/src/logger.js";
import { GcService } from "../dist/src/services/gc/gc-service.js";
import { SyncService } from "../dist/src/services/sync/sync-service.js";
import { TagWriter } from "../dist/src/services/tags/tag-writer.js";
import { CountingStore } from "../dist/src/storage/counting-store.js";
import { MAX_DELETE_BATCH } from "../dist/src/storage/object-store.js";
import { openObjectStore } from "../dist/src/storage/open-store.js";
import { blobKey, RegistryLayout } from "../dist/src/storage/registry-layout.js";
import { RetryingStore } from "../dist/src/storage/retrying-store.js";

/** The content of orphan i: the same formula as bench/gc.ts's `orphanBytes`. */
const orphanBytes = (i) => Buffer.from(`orphan blob ${i} `.repeat(4));
const digestOf = (bytes) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function timed(fn) {
  const start = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - start) / 1000 };
}

const mb = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function collectRun(gc, request) {
  const ticket = await gc.start(request, "cli");
  const finished = await ticket.done;
  if (finished.state !== "SUCCEEDED") throw new Error(`gc ended ${finished.state}: ${finished.message}`);
  return finished;
}

async function pool(n, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main(job) {
  configureLogger("warn");
  const bare = openObjectStore(job.storageUrl, { retry: false, directory: { durable: false } });
  const counting = new CountingStore(bare);
  const db = await openDatabase(job.databaseUrl);
  try {
    await migrate(db);
    const namespaceId = await namespaceIdOf(db, "default");
    const sync = new SyncService({ db, store: counting, namespaceId, concurrency: job.concurrency });
    if (job.phase === "index") {
      const run = await sync.start({ full: true, dryRun: false, allowMassRemoval: false }, "cli");
      const finished = await run.done;
      if (finished.state !== "SUCCEEDED") throw new Error(`sync ended ${finished.state}`);
      return [];
    }
    const gc = new GcService({
      db,
      namespaceId,
      sync,
      store: counting,
      defaultGracePeriodMs: 0,
      concurrency: job.concurrency,
    });
    const rows = [];

    // ── the full run ──
    counting.reset();
    const full = await timed(() => collectRun(gc, { dryRun: false, full: true, gracePeriodMs: 0 }));
    const f = full.result.counts;
    const deleted = f.blobsDeleted + f.manifestsDeleted + f.uploadsDeleted;
    const fullOps = { ...counting.byOp };
    const peak = mb();

    // ── the bare deletes of the same keys, put back first, at the same batch size and concurrency ──
    const keys = Array.from({ length: job.orphans }, (_, i) => blobKey(digestOf(orphanBytes(i))));
    await pool(job.orphans, job.concurrency, (i) => bare.put(keys[i], orphanBytes(i)));
    execFileSync("sync"); // as before the full run: no writeback of the put-back during the deletes
    counting.reset();
    const retrying = new RetryingStore(counting);
    const bareRun = await timed(async () => {
      for (let i = 0; i < keys.length; i += MAX_DELETE_BATCH) {
        const failures = await retrying.deleteObjects(keys.slice(i, i + MAX_DELETE_BATCH));
        if (failures.length > 0) throw new Error(`bare delete failed: ${failures[0].error.message}`);
      }
    });
    const bareOps = { ...counting.byOp };

    rows.push({
      target: job.target,
      scenario: `full run (${job.orphans} orphans among ${job.referenced} referenced)`,
      seconds: Number(full.seconds.toFixed(2)),
      deleted,
      deletions_per_s: Math.round(deleted / full.seconds),
      bare_deletions_per_s: Math.round(keys.length / bareRun.seconds),
      x_bare: Number((full.seconds / bareRun.seconds).toFixed(2)),
      delete_requests_per_1000: Number(((fullOps.deleteBatch * 1000) / Math.max(deleted, 1)).toFixed(2)),
      bare_delete_requests_per_1000: Number(((bareOps.deleteBatch * 1000) / keys.length).toFixed(2)),
      list_requests: fullOps.list,
      other_requests: fullOps.get + fullOps.head + fullOps.put + fullOps.delete,
      requests: full.result.counts.objectStoreRequests,
      peak_rss_mb: peak,
    });

    // ── one tag deleted, then an online run ──
    const writer = new TagWriter(db, new RegistryLayout(new RetryingStore(counting)), "default", namespaceId);
    await writer.deleteTag(job.oneTag.repository, job.oneTag.tag);
    counting.reset();
    const online = await timed(() => collectRun(gc, { dryRun: false, full: false, gracePeriodMs: 0 }));
    const o = online.result.counts;
    rows.push({
      target: job.target,
      scenario: `online run after DeleteTag (${job.tags} tags)`,
      seconds: Number(online.seconds.toFixed(3)),
      deleted: o.blobsDeleted + o.manifestsDeleted,
      tag_objects: job.oneTag.objects,
      requests: counting.total,
      requests_goal: job.oneTag.objects + 5,
      ...Object.fromEntries(Object.entries(counting.byOp).filter(([, n]) => n > 0)),
    });
    return rows;
  } finally {
    await db.close();
    await bare.close();
  }
}

const rows = await main(JSON.parse(process.argv[2]));
process.stdout.write(`${JSON.stringify(rows)}\n`);
process.exit(0);
