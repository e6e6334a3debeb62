/**
 * The garbage collector's interface to leases and uploads (db/content-leases/gc-roots.ts), on
 * SQLite and MariaDB: which digests are held, which leases are expired and which uploads are
 * dead, each re-checked when removing. Expiry is set by moving `expires_at` into the past
 * (database rows, not waiting).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import {
  deadUploads,
  deleteExpiredLeases,
  expiredLeases,
  heldDigests,
  markUploadsRemoved,
} from "../../../../src/db/content-leases/gc-roots.js";
import { addLeaseResource, insertLease } from "../../../../src/db/content-leases/lease-store.js";
import { writeLabelChange } from "../../../../src/db/labels/label-store.js";
import { insertUpload, markUploadAborted, markUploadCommitted } from "../../../../src/db/uploads/upload-store.js";
import { writeTransaction } from "../../../../src/db/write-transaction.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";

const d = (c: string) => `sha256:${c.repeat(64)}`;

forEachDialect("gc roots of leases and uploads", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  const ns = 1;
  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect));
  });
  afterEach(async () => cleanup());

  const tx = <T>(fn: Parameters<typeof writeTransaction<T>>[1]) => writeTransaction(db, fn);
  const lease = (id: string, resources: Array<["blob" | "manifest" | "upload", string]> = []) =>
    tx(async (m) => {
      expect(await insertLease(m, db.dialect, { namespaceId: ns, id, ownerTokenId: null, ttlMs: 0 })).toBe(true);
      for (const [kind, rid] of resources) await addLeaseResource(m, db.dialect, ns, id, { kind, id: rid });
    });
  const expire = (table: "leases" | "uploads", id: string) =>
    db.ds.query(`UPDATE ${table} SET expires_at = ? WHERE id = ?`, [
      dialect === "sqlite" ? "2000-01-01 00:00:00.000" : new Date("2000-01-01T00:00:00Z"),
      id,
    ]);
  const upload = (id: string, expectedDigest = "", leaseId = "") =>
    tx((m) =>
      insertUpload(m, db.dialect, { namespaceId: ns, id, repository: "r", expectedDigest, leaseId, ttlMs: 3_600_000 }),
    );
  const held = (digests: string[], committedWithinMs = 0) =>
    tx((m) => heldDigests(m, db.dialect, ns, digests, { committedWithinMs }));

  it("a digest is held by a live lease (blob or manifest kind), not by an expired one or another namespace's", async () => {
    await lease("l1", [
      ["blob", d("a")],
      ["manifest", d("b")],
      ["upload", d("c")],
    ]);
    await lease("l2", [["blob", d("e")]]);
    await expire("leases", "l2");
    expect(await held([d("a"), d("b"), d("c"), d("e"), d("f")])).toEqual(new Set([d("a"), d("b")]));
    expect(await tx((m) => heldDigests(m, db.dialect, ns + 1, [d("a")]))).toEqual(new Set());
  });

  it("an upload holds its digests while open, while its lease lives, or within the committed window", async () => {
    await upload("open", d("1"));
    await upload("expired", d("2"));
    await expire("uploads", "expired");
    await lease("keeper");
    await upload("leased-expired", d("3"), "keeper");
    await expire("uploads", "leased-expired");
    await upload("aborted", d("4"), "keeper");
    await tx((m) => markUploadAborted(m, ns, "aborted"));
    await upload("committed", d("5"));
    await tx((m) => markUploadCommitted(m, db.dialect, ns, "committed", { digest: d("6"), size: 1, mediaType: "" }));
    const all = ["1", "2", "3", "4", "5", "6"].map(d);
    expect(await held(all)).toEqual(new Set([d("1"), d("3")]));
    expect(await held(all, 3_600_000)).toEqual(new Set([d("1"), d("3"), d("5"), d("6")]));
    await expire("leases", "keeper");
    expect(await held(all)).toEqual(new Set([d("1")]));
  });

  it("expired leases are listed and deleted only if still expired, with their labels and resources", async () => {
    await lease("old", [["blob", d("a")]]);
    await tx((m) => writeLabelChange(m, "lease", [ns, "old"], { set: { team: "x" }, remove: [] }));
    await lease("live");
    await expire("leases", "old");
    expect(await expiredLeases(db, db.dialect, ns)).toEqual(["old"]);
    const deleted = await tx((m) => deleteExpiredLeases(m, db.dialect, ns, ["old", "live"]));
    expect(deleted).toEqual([{ id: "old", labels: { team: "x" } }]);
    const count = async (table: string) => Number((await db.ds.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
    expect([await count("leases"), await count("lease_labels"), await count("lease_resources")]).toEqual([1, 0, 0]);
    expect(await expiredLeases(db, db.dialect, ns)).toEqual([]);
  });

  it("dead uploads: aborted, expired and committed ones a live lease does not hold; removal re-checks", async () => {
    await lease("keeper");
    await upload("a-open");
    await upload("b-aborted", "", "keeper");
    await tx((m) => markUploadAborted(m, ns, "b-aborted"));
    await upload("c-expired");
    await expire("uploads", "c-expired");
    await upload("d-expired-leased", "", "keeper");
    await expire("uploads", "d-expired-leased");
    await upload("e-committed");
    await tx((m) => markUploadCommitted(m, db.dialect, ns, "e-committed", { digest: d("e"), size: 1, mediaType: "" }));
    await upload("f-expired-resource");
    await tx((m) => addLeaseResource(m, db.dialect, ns, "keeper", { kind: "upload", id: "f-expired-resource" }));
    await expire("uploads", "f-expired-resource");

    const dead = await deadUploads(db, db.dialect, ns);
    expect(dead.map((u) => [u.id, u.state, u.objectPrefix])).toEqual([
      ["b-aborted", "aborted", "_uploads/b-aborted/"],
      ["c-expired", "open", "_uploads/c-expired/"],
      ["e-committed", "committed", "_uploads/e-committed/"],
    ]);
    // A committed upload stays within its window.
    expect((await deadUploads(db, db.dialect, ns, { committedForMs: 3_600_000 })).map((u) => u.id)).toEqual([
      "b-aborted",
      "c-expired",
    ]);
    // A lease takes c-expired before the removal: it stays.
    await tx((m) => addLeaseResource(m, db.dialect, ns, "keeper", { kind: "upload", id: "c-expired" }));
    const removed = await tx((m) =>
      markUploadsRemoved(m, db.dialect, ns, ["a-open", "b-aborted", "c-expired", "e-committed"]),
    );
    expect(removed.sort()).toEqual(["b-aborted", "e-committed"]);
    await expire("leases", "keeper");
    expect((await deadUploads(db, db.dialect, ns)).map((u) => u.id)).toEqual([
      "c-expired",
      "d-expired-leased",
      "f-expired-resource",
    ]);
  });

  describe("lease ids", () => {
    it("a live id is refused, an expired one is replaced", async () => {
      await lease("x");
      expect(
        await tx((m) => insertLease(m, db.dialect, { namespaceId: ns, id: "x", ownerTokenId: null, ttlMs: 0 })),
      ).toBe(false);
      await expire("leases", "x");
      expect(await tx((m) => insertLease(m, db.dialect, { namespaceId: ns, id: "x", ownerTokenId: 7, ttlMs: 0 }))).toBe(
        true,
      );
    });
  });
});
