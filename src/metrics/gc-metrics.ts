/**
 * The garbage collector's metrics (DESIGN §8.7): runs by state with durations, what they freed
 * and the object-store requests they made (pushed by each finished run), and the review queue's
 * depth per namespace (read from the database at scrape time).
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { GcFinished } from "../services/gc/gc-types.js";

// From an online run that found nothing (well under a second) to a full run over millions of objects.
const GC_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800];

export class GcMetrics {
  private readonly runs: Counter<"state">;
  private readonly duration: Histogram<"state">;
  private readonly bytesFreed: Counter;
  private readonly deleted: Counter<"kind">;
  private readonly requests: Counter;

  constructor(
    registers: Registry[],
    queueDepth?: () => Promise<ReadonlyArray<{ namespace: string; pending: number }>>,
  ) {
    this.runs = new Counter({
      name: "epoch_gc_runs_total",
      help: "Garbage collections finished on this replica, by final state.",
      labelNames: ["state"],
      registers,
    });
    this.duration = new Histogram({
      name: "epoch_gc_run_duration_seconds",
      help: "Duration of the garbage collections finished on this replica (their sync included), by final state.",
      labelNames: ["state"],
      buckets: GC_BUCKETS,
      registers,
    });
    this.bytesFreed = new Counter({
      name: "epoch_gc_bytes_freed_total",
      help: "Bytes of the objects garbage collections deleted (dry runs not counted).",
      registers,
    });
    this.deleted = new Counter({
      name: "epoch_gc_objects_deleted_total",
      help: "Objects garbage collections deleted, by kind: blob, manifest, upload (staging prefixes), lease (dry runs not counted).",
      labelNames: ["kind"],
      registers,
    });
    this.requests = new Counter({
      name: "epoch_gc_object_store_requests_total",
      help: "Object-store requests made by the finished garbage collections (their syncs' and retries included).",
      registers,
    });
    if (queueDepth) {
      new Gauge({
        name: "epoch_gc_review_queue_depth",
        help: "Review-queue rows waiting for a garbage collection (pending), by namespace.",
        labelNames: ["namespace"],
        registers,
        async collect() {
          this.reset();
          try {
            for (const { namespace, pending } of await queueDepth()) this.set({ namespace }, pending);
          } catch {
            // The database does not answer: no value rather than a wrong one.
          }
        },
      });
    }
  }

  runFinished(f: GcFinished): void {
    const labels = { state: f.state };
    this.runs.inc(labels);
    this.duration.observe(labels, f.durationMs / 1000);
    this.requests.inc(f.counts.objectStoreRequests);
    if (f.dryRun) return;
    this.bytesFreed.inc(f.counts.bytesFreed);
    this.deleted.inc({ kind: "blob" }, f.counts.blobsDeleted);
    this.deleted.inc({ kind: "manifest" }, f.counts.manifestsDeleted);
    this.deleted.inc({ kind: "upload" }, f.counts.uploadsDeleted);
    this.deleted.inc({ kind: "lease" }, f.counts.leasesDeleted);
  }
}
