/**
 * A directory store whose root does not exist is a misconfiguration, not an empty registry: the
 * sync fails with STORAGE_UNAVAILABLE ("registry root … does not exist") and writes nothing, and
 * so does a read of any key; once the directory exists, an empty registry syncs as such.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configureLogger } from "../../../src/logger.js";
import { SyncService } from "../../../src/services/sync/sync-service.js";
import { DirectoryObjectStore } from "../../../src/storage/directory-store.js";
import { RegistryLayout } from "../../../src/storage/registry-layout.js";
import { createMigratedDatabase } from "../../helpers/database.js";
import { NO_WAIT_RETRY, runSync } from "../../helpers/sync-harness.js";
import type { Database } from "../../../src/db/data-source.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

describe("a directory store whose root does not exist", () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let parent: string;
  let root: string;
  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedDatabase("sqlite"));
    parent = mkdtempSync(join(tmpdir(), "epoch-root-"));
    root = join(parent, "registry");
  });
  afterEach(async () => {
    await cleanup();
    rmSync(parent, { recursive: true, force: true });
  });

  it("fails the sync with STORAGE_UNAVAILABLE naming the root, and syncs an empty registry once it exists", async () => {
    const sync = new SyncService({ db, store: new DirectoryObjectStore(root), retry: NO_WAIT_RETRY });
    try {
      const { finished } = await runSync(sync);
      expect(finished).toMatchObject({ state: "FAILED", errorReason: "STORAGE_UNAVAILABLE" });
      expect(finished.message).toContain(`registry root ${root} does not exist`);
      const rows = (await db.ds.query("SELECT COUNT(*) AS n FROM sync_runs WHERE state = 'FAILED'")) as Array<{
        n: number;
      }>;
      expect(Number(rows[0]?.n)).toBe(1);

      mkdirSync(root);
      expect((await runSync(sync)).finished.state).toBe("SUCCEEDED");
    } finally {
      await sync.shutdown();
    }
  });

  it("answers a read of any key with STORAGE_UNAVAILABLE, not NOT_FOUND", async () => {
    const layout = new RegistryLayout(new DirectoryObjectStore(root));
    await expect(layout.readManifest("library/app", "1")).rejects.toMatchObject({
      kind: "unavailable",
      reason: "STORAGE_UNAVAILABLE",
      message: expect.stringContaining(`registry root ${root} does not exist`),
    });
    mkdirSync(root);
    await expect(layout.readManifest("library/app", "1")).rejects.toMatchObject({ reason: "MANIFEST_MISSING" });
  });

  it("is an empty registry when only a required parent root must exist (a namespace nobody pushed to)", async () => {
    const namespaceRoot = join(root, "namespaces", "blue");
    const layout = new RegistryLayout(new DirectoryObjectStore(namespaceRoot, { requiredRoot: root }));
    await expect(layout.readManifest("library/app", "1")).rejects.toMatchObject({
      reason: "STORAGE_UNAVAILABLE",
      message: expect.stringContaining(`registry root ${root} does not exist`),
    });
    mkdirSync(root);
    await expect(layout.readManifest("library/app", "1")).rejects.toMatchObject({ reason: "MANIFEST_MISSING" });
    const sync = new SyncService({
      db,
      store: new DirectoryObjectStore(namespaceRoot, { requiredRoot: root }),
      retry: NO_WAIT_RETRY,
    });
    try {
      expect((await runSync(sync)).finished.state).toBe("SUCCEEDED");
    } finally {
      await sync.shutdown();
    }
  });
});
