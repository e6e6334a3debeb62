/**
 * The collector and leases and uploads (DESIGN §8.3–§8.5), on SQLite and MariaDB: a leased orphan
 * survives online and full runs until its lease is deleted or expires; the collector deletes
 * expired leases (/leases/delete); aborted and expired uploads lose their staged objects; a
 * committed blob nothing references stays for the grace period, then goes.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { seededBytes } from "../../../../src/demo/demo-builder.js";
import { namespaceIdOf } from "../../../../src/db/queries/namespaces.js";
import { configureLogger } from "../../../../src/logger.js";
import { LeaseService } from "../../../../src/services/leases/lease-service.js";
import { UNBOUNDED } from "../../../../src/services/tokens/repository-bound.js";
import { UploadService } from "../../../../src/services/uploads/upload-service.js";
import { uploadPrefix } from "../../../../src/db/uploads/upload-store.js";
import { blobKey } from "../../../../src/storage/registry-layout.js";
import { forEachDialect } from "../../../helpers/database.js";
import { collector, runGc } from "../../../helpers/gc-harness.js";
import { createSyncHarness, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const ADMIN = { tokenId: undefined, admin: true, bound: UNBOUNDED };
const HOUR = 3_600_000;

forEachDialect("garbage collection with leases and uploads", (dialect) => {
  let h: SyncHarness;
  let leases: LeaseService;
  let uploads: UploadService;
  const past = () => (dialect === "sqlite" ? "2000-01-01 00:00:00.000" : new Date(Date.UTC(2000, 0, 1)));
  const expire = (table: "leases" | "uploads", id: string) =>
    h.db.ds.query(`UPDATE ${table} SET expires_at = ? WHERE id = ?`, [past(), id]);

  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    const namespaceId = (await namespaceIdOf(h.db, "default"))!;
    leases = new LeaseService(h.db, namespaceId);
    uploads = new UploadService(h.db, namespaceId, {
      defaultTtlMs: 24 * HOUR,
      headBlob: (digest) => h.layout.headBlob(digest),
    });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("keeps a leased orphan until its lease is deleted, or expires (and then deletes the lease)", async () => {
    const a = await h.layout.pushBlob(seededBytes("leased-a", 300));
    const b = await h.layout.pushBlob(seededBytes("leased-b", 400));
    const first = await leases.create({ id: "push-1", labels: {}, ttlMs: 0 }, ADMIN);
    const second = await leases.create({ id: "push-2", labels: {}, ttlMs: HOUR }, ADMIN);
    await leases.addResource(first.id, { kind: "blob", id: a.digest }, ADMIN);
    await leases.addResource(second.id, { kind: "blob", id: b.digest }, ADMIN);
    const gc = await collector(h);
    expect((await runGc(gc, { full: true, gracePeriodMs: 0 })).keys).toEqual([]);

    await leases.delete(first.id, ADMIN);
    expect((await runGc(gc, { full: true, gracePeriodMs: 0 })).keys).toEqual([blobKey(a.digest)]);

    await expire("leases", second.id);
    const run = await runGc(gc, { full: true, gracePeriodMs: 0 });
    expect(run.deletions).toEqual(
      expect.arrayContaining([
        { kind: "LEASE", key: "", digest: "push-2", size: 0 },
        { kind: "BLOB", key: blobKey(b.digest), digest: b.digest, size: 400 },
      ]),
    );
    expect(run.finished.counts).toMatchObject({ leasesDeleted: 1, blobsDeleted: 1 });
    // The collector's /leases/delete (push-1's came from its DeleteLease).
    const events: Array<{ subject: string }> = await h.db.ds.query(
      "SELECT subject FROM events WHERE topic = '/leases/delete' ORDER BY id",
    );
    expect(events.map((e) => e.subject)).toEqual(["lease:push-1", "lease:push-2"]);
  });

  it("deletes the staged objects of aborted and expired uploads, and a committed blob after the grace period", async () => {
    const aborted = await uploads.start({ repository: "app/one", expectedDigest: "", leaseId: "", ttlMs: 0 }, ADMIN);
    const expired = await uploads.start({ repository: "app/one", expectedDigest: "", leaseId: "", ttlMs: 0 }, ADMIN);
    const open = await uploads.start({ repository: "app/one", expectedDigest: "", leaseId: "", ttlMs: 0 }, ADMIN);
    for (const u of [aborted, expired, open]) await h.store.put(`${uploadPrefix(u.id)}part-0`, Buffer.from("staged"));
    await uploads.abort(aborted.id, ADMIN);
    await expire("uploads", expired.id);
    const committed = await uploads.start({ repository: "app/one", expectedDigest: "", leaseId: "", ttlMs: 0 }, ADMIN);
    const blob = await h.layout.pushBlob(seededBytes("committed", 500));
    await uploads.commit(
      { id: committed.id, digest: blob.digest, size: 500, mediaType: "application/octet-stream" },
      ADMIN,
    );

    const gc = await collector(h);
    const online = await runGc(gc, { gracePeriodMs: HOUR });
    expect(online.keys).toEqual([uploadPrefix(aborted.id), uploadPrefix(expired.id)].sort());
    expect(online.finished.counts.uploadsDeleted).toBe(2);
    expect(await h.store.head(`${uploadPrefix(open.id)}part-0`)).not.toBeNull();
    expect(await h.store.head(blobKey(blob.digest))).not.toBeNull();

    // With no grace left, the committed blob nothing references goes (the open upload stays).
    const later = await runGc(gc, { gracePeriodMs: 0 });
    expect(later.keys).toEqual(expect.arrayContaining([blobKey(blob.digest)]));
    expect(await h.store.head(blobKey(blob.digest))).toBeNull();
    expect(await h.store.head(`${uploadPrefix(open.id)}part-0`)).not.toBeNull();
  });
});
