/**
 * The measuring process of bench/sync.ts: the I/O floor, then the four syncs, on one store and
 * one database; for bench/sync-events.ts (`job.firstOnly`) the first sync alone, with the event
 * outbox on or off (`job.writeEvents`, the SyncService's benchmark seam), and the events it wrote. Plain JavaScript on the compiled service (dist/, what `npm start` runs), so its
 * peak RSS is a sync's — not a TypeScript loader's (tsx adds a hooks thread and transpiled
 * sources). `npm run bench` builds dist/ first; the parent refuses a stale build.
 *
 *   node bench/sync-child.mjs '<ChildJob JSON>'   → one JSON line of table rows on stdout
 */
/* global process, performance */
import { randomBytes } from "node:crypto";
import { openDatabase } from "../dist/src/db/data-source.js";
import { migrate } from "../dist/src/db/migrate.js";
import { configureLogger } from "../dist/src/logger.js";
import { SyncService } from "../dist/src/services/sync/sync-service.js";
import { CountingStore } from "../dist/src/storage/counting-store.js";
import { imageManifestBytes } from "../dist/src/demo/demo-builder.js";
import { openObjectStore } from "../dist/src/storage/open-store.js";
import { CATALOG_KEY, manifestKey, RegistryLayout } from "../dist/src/storage/registry-layout.js";
import { RetryingStore } from "../dist/src/storage/retrying-store.js";

const PER_REPOSITORY = 100;
const INCREMENTAL = { full: false, dryRun: false, allowMassRemoval: false };

async function timed(fn) {
  const start = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - start) / 1000 };
}

/** The floor: the catalog and every tag's manifest, GET at the same concurrency through the same wrappers; no parsing, no database. */
async function ioFloor(store, tags, concurrency) {
  const requests = new RetryingStore(new CountingStore(store));
  const keys = Array.from({ length: tags }, (_, i) =>
    manifestKey(`scale/repo-${Math.floor(i / PER_REPOSITORY)}`, `t${i % PER_REPOSITORY}`),
  );
  const { seconds } = await timed(async () => {
    await requests.get(CATALOG_KEY);
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < keys.length) await requests.get(keys[next++]);
      }),
    );
  });
  return seconds;
}

async function sync(service, flags = INCREMENTAL) {
  const run = await service.start(flags, "cli");
  const finished = await run.done;
  if (finished.state !== "SUCCEEDED") throw new Error(`sync ended ${finished.state}: ${finished.message}`);
  return finished;
}

async function measure(job) {
  configureLogger("warn");
  const store = openObjectStore(job.storageUrl, { retry: false, directory: { durable: false } });
  const db = await openDatabase(job.databaseUrl);
  try {
    await migrate(db);
    const service = new SyncService({
      db,
      store,
      concurrency: job.concurrency,
      ...(job.writeEvents === false && { writeEvents: false }),
    });
    if (job.firstOnly) {
      const first = await timed(() => sync(service));
      await service.shutdown();
      const [{ n }] = await db.ds.query("SELECT COUNT(*) AS n FROM events");
      return [{ seconds: first.seconds, events: Number(n), tagsAdded: first.result.counts.tagsAdded }];
    }
    const floor = await ioFloor(store, job.tags, job.concurrency);
    const full = await timed(() => sync(service));
    // The kernel's high-water mark of this process (modules, floor and first sync included).
    const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    const noop = await timed(() => sync(service));
    const changed = imageManifestBytes({
      config: {
        digest: `sha256:${randomBytes(32).toString("hex")}`,
        size: 1234,
        mediaType: "application/vnd.oci.image.config.v1+json",
      },
      layers: [
        {
          digest: `sha256:${randomBytes(32).toString("hex")}`,
          size: 56789,
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        },
      ],
    });
    await new RegistryLayout(store).pushManifest("scale/repo-0", "t7", changed);
    const one = await timed(() => sync(service));
    const rerun = await timed(() => sync(service, { ...INCREMENTAL, full: true }));
    await service.shutdown();
    const epochPerChange = 1 + job.tags;
    const row = (scenario, s, f, epoch, extra = {}) => ({
      target: job.target,
      tags: job.tags,
      scenario,
      seconds: Number(s.toFixed(2)),
      requests: f.counts.objectStoreRequests,
      epoch_requests: epoch,
      ...extra,
    });
    return [
      row("full (first) sync", full.seconds, full.result, epochPerChange, {
        io_floor_seconds: Number(floor.toFixed(2)),
        x_floor: Number((full.seconds / floor).toFixed(2)),
        peak_rss_mb: peakRssMb,
      }),
      row("no-op sync", noop.seconds, noop.result, 1),
      row("one tag changed", one.seconds, one.result, epochPerChange),
      row("full=true re-sync, nothing changed", rerun.seconds, rerun.result, epochPerChange),
    ];
  } finally {
    await db.close();
    await store.close();
  }
}

const rows = await measure(JSON.parse(process.argv[2]));
process.stdout.write(`${JSON.stringify(rows)}\n`);
process.exit(0);
