/**
 * Several namespaces' first syncs at once on one database (what concurrent SyncFromCatalog calls
 * and the sync timer do), on SQLite and MariaDB: every run succeeds and each namespace holds
 * exactly its own tags. On MariaDB their batches lock neighbouring key ranges of the shared
 * `tags` indexes (repository ids of different namespaces interleave), so InnoDB picks deadlock
 * victims; the commit transactions must ride them out.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import { insertNamespace } from "../../../../src/db/namespaces/namespace-store.js";
import { writeScaleRegistry } from "../../../../src/demo/demo-registry.js";
import { configureLogger } from "../../../../src/logger.js";
import { SyncService } from "../../../../src/services/sync/sync-service.js";
import { DirectoryObjectStore } from "../../../../src/storage/directory-store.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { INCREMENTAL } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const NAMESPACES = 6;
const TAGS = 600;

forEachDialect("first syncs of several namespaces at once", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let dir: string;

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect));
    dir = mkdtempSync(join(tmpdir(), "epoch-concurrent-ns-"));
  });
  afterAll(async () => {
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it("all succeed, each with exactly its own tags", { timeout: 240_000 }, async () => {
    const services = [];
    for (let k = 0; k < NAMESPACES; k++) {
      const root = join(dir, `ns-${k}`);
      const store = new DirectoryObjectStore(root, { durable: false });
      // Consecutive ranges of one sequence: repository names repeat across namespaces only by accident.
      await writeScaleRegistry(store, { tags: TAGS, firstTag: k * TAGS, tagsPerRepository: 20 });
      const namespace = (await insertNamespace(db, `ns-${k}`, `file:${root}`))!;
      services.push(
        new SyncService({ db, store, namespace: namespace.name, namespaceId: namespace.id, concurrency: 8 }),
      );
    }
    const finished = await Promise.all(
      services.map(async (service) => (await (await service.start(INCREMENTAL, "api")).done) as { state: string }),
    );
    await Promise.all(services.map((s) => s.shutdown()));
    expect(finished.map((f) => f.state)).toEqual(Array.from({ length: NAMESPACES }, () => "SUCCEEDED"));
    const perNamespace: Array<{ name: string; n: number | string }> = await db.ds.query(
      `SELECT ns.name, COUNT(*) AS n FROM tags t JOIN repositories r ON r.id = t.repository_id
JOIN namespaces ns ON ns.id = r.namespace_id GROUP BY ns.name ORDER BY ns.name`,
    );
    expect(perNamespace.map((r) => [r.name, Number(r.n)])).toEqual(
      Array.from({ length: NAMESPACES }, (_, k) => [`ns-${k}`, TAGS]),
    );
  });
});
