/**
 * UploadService end to end (DESIGN §8.4) on SQLite and MariaDB: the real server with
 * authentication, a directory registry root, the generated clients. Commit (HEAD of the blob
 * object, the blob recorded unreferenced: GetBlob shows ref_count 0, ListBlobs only with
 * `ref_count==0`), the upload's lease taking the blob, /uploads/commit; size mismatch, missing
 * blob, expected-digest mismatch, expiry (set in the database), abort; repository bounds and
 * scopes; DeleteNamespace refusing an open upload.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import type { ListEventsResponse } from "epoch-meta-client/epoch/v1/event_service";
import { LeaseResourceKind, LeaseServiceClient, type LeaseResource } from "epoch-meta-client/epoch/v1/lease_service";
import type { ListBlobsResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import { NamespaceServiceClient } from "epoch-meta-client/epoch/v1/namespace_service";
import type { Blob } from "epoch-meta-client/epoch/v1/resources";
import { UploadServiceClient, UploadState, type Upload } from "epoch-meta-client/epoch/v1/upload_service";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

type Who = "admin" | "push" | "service" | "pull";

forEachDialect("uploads through the server", (dialect) => {
  let dir: string;
  let testDb: TestDatabase;
  let db: Database;
  let s: E2EServer;
  let uploads: UploadServiceClient;
  let leases: LeaseServiceClient;
  let namespaces: NamespaceServiceClient;
  let layout: RegistryLayout;
  const secrets: Record<Who, string> = { admin: "", push: "", service: "", pull: "" };
  let blobCounter = 0;

  const md = (who: Who, namespace?: string) => callMetadata(secrets[who], namespace);
  const start = (repository: string, expectedDigest = "", leaseId = "", who: Who = "admin", ns?: string) =>
    call<{ upload?: Upload }>((cb) =>
      uploads.startUpload({ repository, expectedDigest, leaseId, ttl: undefined }, md(who, ns), cb),
    ).then((r) => r.upload!);
  const get = (id: string, who: Who = "admin") =>
    call<{ upload?: Upload }>((cb) => uploads.getUpload({ id }, md(who), cb)).then((r) => r.upload!);
  const commit = (id: string, digest: string, size: number, who: Who = "admin") =>
    call<{ blob?: Blob }>((cb) =>
      uploads.commitUpload({ id, digest, size, mediaType: "application/octet-stream" }, md(who), cb),
    ).then((r) => r.blob!);
  const abort = (id: string, who: Who = "admin") => call((cb) => uploads.abortUpload({ id }, md(who), cb));
  const listBlobs = (filter: string[]) =>
    call<ListBlobsResponse>((cb) => s.metadata.listBlobs({ pageSize: 0, pageToken: "", filter }, md("admin"), cb)).then(
      (r) => r.blobs.map((b) => b.digest),
    );
  const getBlob = (digest: string) =>
    call<{ blob?: Blob }>((cb) => s.metadata.getBlob({ digest }, md("admin"), cb)).then((r) => r.blob!);
  /** A new blob object in the default root. */
  const pushBlob = () => layout.pushBlob(Buffer.from(`blob ${++blobCounter} of the uploads test`));
  const expire = (id: string) =>
    db.ds.query("UPDATE uploads SET expires_at = ? WHERE id = ?", [
      dialect === "sqlite" ? "2000-01-01 00:00:00.000" : new Date("2000-01-01T00:00:00Z"),
      id,
    ]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-uploads-"));
    layout = new RegistryLayout(new DirectoryObjectStore(dir));
    testDb = await createTestDatabase(dialect);
    s = await startE2EServer({ databaseUrl: testDb.url, storageUrl: `file:${dir}`, env: { EPOCH_AUTH: "required" } });
    uploads = new UploadServiceClient(s.address, credentials.createInsecure());
    leases = new LeaseServiceClient(s.address, credentials.createInsecure());
    namespaces = new NamespaceServiceClient(s.address, credentials.createInsecure());
    db = await openDatabase(testDb.url);
    const store = new TokenStore(db);
    secrets.admin = (await createToken(store, { name: "admin", scopes: ["admin"] })).secret;
    secrets.push = (await createToken(store, { name: "push", scopes: ["push"], repositories: ["team/*"] })).secret;
    secrets.service = (await createToken(store, { name: "svc", scopes: ["service"] })).secret;
    secrets.pull = (await createToken(store, { name: "pull", scopes: ["pull"] })).secret;
  });
  afterAll(async () => {
    for (const c of [uploads, leases, namespaces]) c?.close();
    await db?.close();
    await s?.stop();
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("commits a blob: recorded unreferenced, held by the upload's lease, reported as an event", async () => {
    await call((cb) => leases.createLease({ id: "push-1", labels: {}, ttl: undefined }, md("admin"), cb));
    const blob = await pushBlob();
    const upload = await start("team/app", blob.digest, "push-1");
    expect(upload).toMatchObject({
      repository: "team/app",
      expectedDigest: blob.digest,
      objectPrefix: `_uploads/${upload.id}/`,
      leaseId: "push-1",
      state: UploadState.UPLOAD_STATE_OPEN,
      expired: false,
    });
    // EPOCH_UPLOAD_TTL's default, by the database clock.
    expect(upload.expireTime!.getTime() - upload.startTime!.getTime()).toBe(24 * 3_600_000);

    const committed = await commit(upload.id, blob.digest, blob.size);
    expect(committed).toEqual({
      digest: blob.digest,
      size: blob.size,
      mediaType: "application/octet-stream",
      refCount: 0,
    });
    // Committing again with the same digest answers the blob again; another digest is refused.
    expect(await commit(upload.id, blob.digest, blob.size)).toEqual(committed);
    expect(await getBlob(blob.digest)).toEqual(committed);
    expect(await listBlobs([])).not.toContain(blob.digest);
    expect(await listBlobs(["ref_count==0"])).toContain(blob.digest);
    expect((await callError(listBlobs(["ref_count~=0"]))).reason).toBe("ERROR_REASON_INVALID_FILTER");
    expect(await get(upload.id)).toMatchObject({
      state: UploadState.UPLOAD_STATE_COMMITTED,
      digest: blob.digest,
      size: blob.size,
    });
    const held = await call<{ resources: LeaseResource[] }>((cb) =>
      leases.listLeaseResources({ id: "push-1" }, md("admin"), cb),
    );
    expect(held.resources).toEqual([
      { kind: LeaseResourceKind.LEASE_RESOURCE_KIND_BLOB, id: blob.digest },
      { kind: LeaseResourceKind.LEASE_RESOURCE_KIND_UPLOAD, id: upload.id },
    ]);
    const events = await call<ListEventsResponse>((cb) =>
      s.events.listEvents(
        { afterId: 0, pageSize: 0, pageToken: "", filter: ['topic=="/uploads/commit"'], allNamespaces: false },
        md("admin"),
        cb,
      ),
    );
    expect(events.events.map((e) => [e.subject, e.payload])).toEqual([
      [
        `team/app@${blob.digest}`,
        { $case: "upload", upload: { id: upload.id, repository: "team/app", digest: blob.digest, size: blob.size } },
      ],
    ]);
  });

  it("refuses a size mismatch, a missing blob and a digest other than the expected one; nothing is recorded", async () => {
    const blob = await pushBlob();
    const upload = await start("team/app");
    const size = await callError(commit(upload.id, blob.digest, blob.size + 1));
    expect([size.code, size.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_SIZE_MISMATCH"]);
    const absent = `sha256:${"0".repeat(64)}`;
    const missing = await callError(commit(upload.id, absent, 1));
    expect([missing.code, missing.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_BLOB_MISSING"]);
    expect((await get(upload.id)).state).toBe(UploadState.UPLOAD_STATE_OPEN);
    expect((await callError(getBlob(blob.digest))).reason).toBe("ERROR_REASON_BLOB_NOT_FOUND");

    const other = await pushBlob();
    const expecting = await start("team/app", blob.digest);
    const wrong = await callError(commit(expecting.id, other.digest, other.size));
    expect([wrong.code, wrong.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_DIGEST"]);
    const badDigest = await callError(commit(expecting.id, "sha256:nope", 1));
    expect(badDigest.reason).toBe("ERROR_REASON_INVALID_DIGEST");
    const negative = await callError(commit(expecting.id, blob.digest, -1));
    expect(negative.code).toBe(status.INVALID_ARGUMENT);
    // The original upload still commits.
    expect((await commit(upload.id, blob.digest, blob.size)).refCount).toBe(0);
    const wrongAgain = await callError(commit(upload.id, other.digest, other.size));
    expect(wrongAgain.reason).toBe("ERROR_REASON_INVALID_DIGEST");
  });

  it("an expired upload cannot be committed; an aborted one is gone for commits; abort is idempotent", async () => {
    const blob = await pushBlob();
    const late = await start("team/app");
    await expire(late.id);
    expect((await get(late.id)).expired).toBe(true);
    const expired = await callError(commit(late.id, blob.digest, blob.size));
    expect([expired.code, expired.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_UPLOAD_EXPIRED"]);
    await abort(late.id);

    const dropped = await start("team/app");
    await abort(dropped.id);
    await abort(dropped.id);
    expect((await get(dropped.id)).state).toBe(UploadState.UPLOAD_STATE_ABORTED);
    const gone = await callError(commit(dropped.id, blob.digest, blob.size));
    expect([gone.code, gone.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_UPLOAD_NOT_FOUND"]);

    const done = await start("team/app");
    await commit(done.id, blob.digest, blob.size);
    expect((await callError(abort(done.id))).reason).toBe("ERROR_REASON_UPLOAD_NOT_FOUND");
    expect((await callError(get("no-such-upload"))).reason).toBe("ERROR_REASON_UPLOAD_NOT_FOUND");
    expect((await callError(get("bad id"))).reason).toBe("ERROR_REASON_INVALID_NAME");
    const noLease = await callError(start("team/app", "", "no-such-lease"));
    expect(noLease.reason).toBe("ERROR_REASON_LEASE_NOT_FOUND");
  });

  it("push needs the repository inside the token's globs; ListUploads is admin's; pull may not upload", async () => {
    const blob = await pushBlob();
    const mine = await start("team/api", "", "", "push");
    await commit(mine.id, blob.digest, blob.size, "push");
    const outside = await callError(start("other/app", "", "", "push"));
    expect([outside.code, outside.reason]).toEqual([status.PERMISSION_DENIED, "ERROR_REASON_PERMISSION_DENIED"]);
    const theirs = await start("other/app", "", "", "service");
    // One call at a time: a rejected call nobody awaits yet would be an unhandled rejection.
    for (const attempt of [
      () => get(theirs.id, "push"),
      () => abort(theirs.id, "push"),
      () => commit(theirs.id, blob.digest, 1, "push"),
    ])
      expect((await callError(attempt())).code).toBe(status.PERMISSION_DENIED);
    expect((await callError(start("team/app", "", "", "pull"))).code).toBe(status.PERMISSION_DENIED);
    const listAsPush = await callError(
      call((cb) => uploads.listUploads({ pageSize: 0, pageToken: "", filter: [] }, md("push"), cb)),
    );
    expect(listAsPush.code).toBe(status.PERMISSION_DENIED);
    const list = (filter: string[]) =>
      call<{ uploads: Upload[] }>((cb) =>
        uploads.listUploads({ pageSize: 0, pageToken: "", filter }, md("admin"), cb),
      ).then((r) => r.uploads.map((u) => u.id));
    expect(await list(['repository=="other/app"'])).toEqual([theirs.id]);
    expect(await list(["repository==other/app,state==UPLOAD_STATE_OPEN"])).toEqual([theirs.id]);
    expect((await list(["state==committed"])).length).toBeGreaterThanOrEqual(2);
    await abort(theirs.id, "service");
    expect(await list(["repository==other/app,state==open"])).toEqual([]);
  });

  it("a committed blob enters the collector's review queue; one the collector is deleting is BLOB_UNKNOWN", async () => {
    const queued = async (digest: string) =>
      (await db.ds.query("SELECT state FROM gc_review_queue WHERE kind = 'blob' AND digest = ?", [digest])).map(
        (r: { state: string }) => r.state,
      );
    const fresh = await pushBlob();
    await commit((await start("team/app")).id, fresh.digest, fresh.size);
    expect(await queued(fresh.digest)).toEqual(["pending"]);

    // The collector marked this digest (its object about to go): the commit is refused.
    const taken = await pushBlob();
    const now = dialect === "sqlite" ? "2000-01-01 00:00:00.000" : new Date("2000-01-01T00:00:00Z");
    await db.ds.query(
      "INSERT INTO gc_review_queue (namespace_id, kind, repository, digest, unreferenced_at, state, run_id, size, changed_at) VALUES (1, 'blob', '', ?, ?, 'deleting', 1, 0, ?)",
      [taken.digest, now, now],
    );
    const upload = await start("team/app");
    const refused = await callError(commit(upload.id, taken.digest, taken.size));
    expect([refused.code, refused.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_BLOB_UNKNOWN"]);
    expect((await get(upload.id)).state).toBe(UploadState.UPLOAD_STATE_OPEN);
    // Deleted, and pushed again (the object is there): the commit revives it.
    await db.ds.query("UPDATE gc_review_queue SET state = 'deleted' WHERE digest = ?", [taken.digest]);
    expect((await commit(upload.id, taken.digest, taken.size)).refCount).toBe(0);
    expect(await queued(taken.digest)).toEqual(["pending"]);
  });

  it("uploads belong to their namespace; DeleteNamespace refuses one with an open upload", async () => {
    await call((cb) => namespaces.createNamespace({ name: "green", storageUrl: "", labels: {} }, md("admin"), cb));
    const there = await start("team/app", "", "", "admin", "green");
    expect((await callError(get(there.id))).reason).toBe("ERROR_REASON_UPLOAD_NOT_FOUND");
    const refused = await callError(call((cb) => namespaces.deleteNamespace({ name: "green" }, md("admin"), cb)));
    expect(refused.reason).toBe("ERROR_REASON_NAMESPACE_NOT_EMPTY");
    await call((cb) => uploads.abortUpload({ id: there.id }, md("admin", "green"), cb));
    await call((cb) => namespaces.deleteNamespace({ name: "green" }, md("admin"), cb));
  });
});
