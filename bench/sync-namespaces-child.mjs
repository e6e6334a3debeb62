/**
 * The measuring process of bench/sync-namespaces.ts: first syncs of one or more namespaces into
 * a fresh database, `parallel` at a time (all at once, as concurrent SyncFromCatalog calls do, or
 * a few at a time, as the server's timer does). Plain JavaScript on the compiled service (dist/),
 * in a process of its own so its peak RSS is the syncs'.
 *
 *   node bench/sync-namespaces-child.mjs '<job JSON>'   → one JSON line on stdout
 *
 * job: { databaseUrl, concurrency, parallel, roots: [{ namespace, storageUrl, tags }] }
 */
/* global process, performance */
import { openDatabase } from "../dist/src/db/data-source.js";
import { migrate } from "../dist/src/db/migrate.js";
import { findNamespace, insertNamespace } from "../dist/src/db/namespaces/namespace-store.js";
import { configureLogger } from "../dist/src/logger.js";
import { SyncService } from "../dist/src/services/sync/sync-service.js";
import { openObjectStore } from "../dist/src/storage/open-store.js";

const FIRST_SYNC = { full: false, dryRun: false, allowMassRemoval: false };

async function syncOne(db, root, concurrency) {
  const namespace =
    root.namespace === "default"
      ? await findNamespace(db, "default")
      : await insertNamespace(db, root.namespace, root.storageUrl);
  const store = openObjectStore(root.storageUrl, { retry: false, directory: { durable: false } });
  const service = new SyncService({
    db,
    store,
    namespace: namespace.name,
    namespaceId: namespace.id,
    concurrency,
  });
  try {
    const start = performance.now();
    const run = await service.start(FIRST_SYNC, "cli");
    const finished = await run.done;
    const seconds = (performance.now() - start) / 1000;
    if (finished.state !== "SUCCEEDED") throw new Error(`${root.namespace}: sync ended ${finished.state}`);
    if (finished.counts.tagsAdded !== root.tags)
      throw new Error(`${root.namespace}: ${finished.counts.tagsAdded} tags added, expected ${root.tags}`);
    return seconds;
  } finally {
    await service.shutdown();
    await store.close();
  }
}

async function measure(job) {
  configureLogger("warn");
  const db = await openDatabase(job.databaseUrl);
  try {
    await migrate(db);
    const pending = [...job.roots];
    const seconds = [];
    const start = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(job.parallel, pending.length) }, async () => {
        for (let root = pending.shift(); root; root = pending.shift())
          seconds.push(await syncOne(db, root, job.concurrency));
      }),
    );
    const wall = (performance.now() - start) / 1000;
    const [row] = await db.ds.query("SELECT COUNT(*) AS n FROM tags");
    return {
      seconds: wall,
      slowest: Math.max(...seconds),
      fastest: Math.min(...seconds),
      indexedTags: Number(row.n),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    await db.close();
  }
}

const result = await measure(JSON.parse(process.argv[2]));
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
