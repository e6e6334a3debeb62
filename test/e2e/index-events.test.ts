/**
 * The events of index changes through the real server and the generated client, on SQLite and
 * MariaDB (DESIGN §8.6): a first sync, a re-sync after the registry was mutated, IndexTag,
 * DeleteTag, UpdateTag's labels, a sync that finds nothing left to do, and a namespace's life
 * (labels, its blob rows going with it) each produce exactly the events of what they changed — counted and compared field by field
 * with the changes the test made, never one more.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { Event, ListEventsResponse } from "epoch-meta-client/epoch/v1/event_service";
import { NamespaceServiceClient } from "epoch-meta-client/epoch/v1/namespace_service";
import { ArtifactKind } from "epoch-meta-client/epoch/v1/resources";
import { SyncMode, SyncState } from "epoch-meta-client/epoch/v1/sync";
import { afterAll, beforeAll, expect, it } from "vitest";
import { configureLogger } from "../../src/logger.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { writeRegistryFixture, type RegistryFixture } from "../fixtures/registry-fixture.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { image, OCI_CONFIG, OCI_LAYER } from "../helpers/images.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

/** An event reduced to what a change determines: topic, subject, and the payload's digests and kind. */
type Brief = [topic: string, subject: string, oldDigest: string, digest: string, kind: string];

function brief(e: Event): Brief {
  const p = e.payload;
  if (p?.$case === "tag") return [e.topic, e.subject, p.tag.oldDigest, p.tag.digest, ArtifactKind[p.tag.kind]];
  return [e.topic, e.subject, "", "", ""];
}

const digestOfBytes = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const kindOf = (kind: string | undefined) => `ARTIFACT_KIND_${kind ?? "UNSPECIFIED"}`;
const sorted = (rows: Brief[]) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

forEachDialect("index events e2e", (dialect) => {
  let dir: string;
  let layout: RegistryLayout;
  let fx: RegistryFixture;
  let testDb: TestDatabase;
  let s: E2EServer;
  let namespaces: NamespaceServiceClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-index-events-"));
    const store = new DirectoryObjectStore(join(dir, "root"), { durable: false });
    layout = new RegistryLayout(store);
    fx = await writeRegistryFixture(store);
    testDb = await createTestDatabase(dialect);
    s = await startE2EServer({ databaseUrl: testDb.url, storageUrl: `file:${join(dir, "root")}` });
    namespaces = new NamespaceServiceClient(s.address, credentials.createInsecure());
  });
  afterAll(async () => {
    namespaces?.close();
    await s?.stop();
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const md = (namespace?: string) => {
    const m = new Metadata();
    if (namespace !== undefined) m.set("epoch-namespace", namespace);
    return m;
  };
  /** Every event after `afterId`, paged through ListEvents. */
  const eventsAfter = async (afterId: number, allNamespaces = false): Promise<Event[]> => {
    const out: Event[] = [];
    let pageToken = "";
    do {
      const page = await call<ListEventsResponse>((cb) =>
        s.events.listEvents({ afterId, pageSize: 1000, pageToken, filter: [], allNamespaces }, md(), cb),
      );
      out.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return out;
  };
  let seen = 0;
  /** The events since the previous call, checked to continue the id sequence without a gap. */
  const newEvents = async (allNamespaces = false): Promise<Event[]> => {
    const events = await eventsAfter(seen, allNamespaces);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => seen + i + 1));
    seen = events.at(-1)?.id ?? seen;
    return events;
  };
  const sync = (namespace?: string) =>
    collect(s.metadata.syncFromCatalog({ full: false, dryRun: false, allowMassRemoval: false }, md(namespace)));
  const indexTag = (repository: string, tag: string, namespace?: string) =>
    call((cb) => s.metadata.indexTag({ repository, tag }, md(namespace), cb));
  const deleteTag = (repository: string, tag: string, namespace?: string) =>
    call((cb) => s.metadata.deleteTag({ repository, tag }, md(namespace), cb));
  const digestOf = (repository: string, tag: string) =>
    fx.tags.find((t) => t.repository === repository && t.tag === tag)!.digest!;

  /** Checks the /sync/finished that must end `events` and returns the others. */
  const finishedLast = (events: Event[], counts: Record<string, number>, state?: SyncState) => {
    const last = events.at(-1)!;
    expect(last.topic).toBe("/sync/finished");
    expect(last.payload?.$case).toBe("sync");
    if (last.payload?.$case === "sync") {
      expect(last.subject).toBe(`sync:${last.payload.sync.runId}`);
      expect(last.payload.sync.mode).toBe(SyncMode.SYNC_MODE_INCREMENTAL);
      if (state !== undefined) expect(last.payload.sync.state).toBe(state);
      expect(last.payload.sync.counts).toMatchObject(counts);
    }
    return events.slice(0, -1);
  };
  /** Each repository's create comes before its tags' events; each delete after them. */
  const repositoryOrder = (events: Event[]) => {
    const at = (topic: string, subject: string) => events.findIndex((e) => e.topic === topic && e.subject === subject);
    for (const [i, e] of events.entries()) {
      if (!e.topic.startsWith("/tags/")) continue;
      const repo = e.subject.slice(0, e.subject.lastIndexOf(":"));
      const created = at("/repositories/create", repo);
      if (created >= 0) expect(created).toBeLessThan(i);
      const deleted = at("/repositories/delete", repo);
      if (deleted >= 0) expect(deleted).toBeGreaterThan(i);
    }
  };

  it("a first sync: one /repositories/create per repository, one /tags/create per indexed tag, then /sync/finished", async () => {
    await sync();
    const events = await newEvents();
    const changes = finishedLast(
      events,
      { tagsAdded: fx.indexable.length, repositoriesAdded: fx.repositories.length, tagsRemoved: 0 },
      SyncState.SYNC_STATE_DEGRADED, // the fixture's broken entries
    );
    expect(sorted(changes.map(brief))).toEqual(
      sorted([
        ...fx.repositories.map((r): Brief => ["/repositories/create", r, "", "", ""]),
        ...fx.indexable.map((t): Brief => ["/tags/create", `${t.repository}:${t.tag}`, "", t.digest!, kindOf(t.kind)]),
      ]),
    );
    repositoryOrder(changes);
    expect(events.every((e) => e.namespace === "default")).toBe(true);
    const tag = changes.find((e) => e.subject === "library/alpine:3.19")!;
    expect(tag.payload).toEqual({
      $case: "tag",
      tag: {
        repository: "library/alpine",
        tag: "3.19",
        digest: digestOf("library/alpine", "3.19"),
        oldDigest: "",
        kind: ArtifactKind.ARTIFACT_KIND_CONTAINER_IMAGE,
        labels: {},
      },
    });
  });

  it("a re-sync of a mutated registry: exactly its creates, updates and deletes", async () => {
    // A repository whose every tag is indexable leaves the catalog with all its tags.
    const leaving = "team/app/api";
    const leavingTags = fx.tags.filter((t) => t.repository === leaving);
    expect(leavingTags.map((t) => [t.tag, t.broken])).toEqual([
      ["v1", undefined],
      ["v2", undefined],
    ]);
    for (const t of leavingTags) await layout.removeTag(leaving, t.tag);
    const latest = await layout.pushManifest("library/alpine", "latest", image(11));
    const fresh = await layout.pushManifest("fresh/repo", "v1", image(12));
    await layout.removeTag("library/alpine", "3.19");

    await sync();
    const events = await newEvents();
    const changes = finishedLast(events, {
      tagsAdded: 1,
      tagsUpdated: 1,
      tagsRemoved: leavingTags.length + 1,
      repositoriesAdded: 1,
      repositoriesRemoved: 1,
    });
    const image11 = "ARTIFACT_KIND_CONTAINER_IMAGE"; // image() is an OCI image manifest
    expect(sorted(changes.map(brief))).toEqual(
      sorted([
        ["/repositories/create", "fresh/repo", "", "", ""],
        ["/tags/create", "fresh/repo:v1", "", fresh.digest, image11],
        ["/tags/update", "library/alpine:latest", digestOf("library/alpine", "latest"), latest.digest, image11],
        [
          "/tags/delete",
          "library/alpine:3.19",
          digestOf("library/alpine", "3.19"),
          "",
          "ARTIFACT_KIND_CONTAINER_IMAGE",
        ],
        ...leavingTags.map((t): Brief => ["/tags/delete", `${leaving}:${t.tag}`, t.digest!, "", kindOf(t.kind)]),
        ["/repositories/delete", leaving, "", "", ""],
      ]),
    );
    repositoryOrder(changes);
  });

  it("IndexTag: a create, nothing for an unchanged tag, an update with both digests, a new repository", async () => {
    const edge1 = await layout.pushManifest("library/alpine", "edge", image(21));
    await indexTag("library/alpine", "edge");
    expect((await newEvents()).map(brief)).toEqual([
      ["/tags/create", "library/alpine:edge", "", edge1.digest, "ARTIFACT_KIND_CONTAINER_IMAGE"],
    ]);
    await indexTag("library/alpine", "edge");
    expect(await newEvents()).toEqual([]);
    const edge2 = await layout.pushManifest("library/alpine", "edge", image(22));
    await indexTag("library/alpine", "edge");
    expect((await newEvents()).map(brief)).toEqual([
      ["/tags/update", "library/alpine:edge", edge1.digest, edge2.digest, "ARTIFACT_KIND_CONTAINER_IMAGE"],
    ]);
    const pushed = await layout.pushManifest("indexed/new", "1", image(23));
    await indexTag("indexed/new", "1");
    expect((await newEvents()).map(brief)).toEqual([
      ["/repositories/create", "indexed/new", "", "", ""],
      ["/tags/create", "indexed/new:1", "", pushed.digest, "ARTIFACT_KIND_CONTAINER_IMAGE"],
    ]);
  });

  it("DeleteTag: the tag's delete with its last digest; the repository's delete with its last tag", async () => {
    await deleteTag("library/alpine", "edge");
    expect((await newEvents()).map(brief)).toEqual([
      ["/tags/delete", "library/alpine:edge", digestOfBytes(image(22)), "", "ARTIFACT_KIND_CONTAINER_IMAGE"],
    ]);
    await deleteTag("indexed/new", "1");
    expect((await newEvents()).map(brief)).toEqual([
      ["/tags/delete", "indexed/new:1", digestOfBytes(image(23)), "", "ARTIFACT_KIND_CONTAINER_IMAGE"],
      ["/repositories/delete", "indexed/new", "", "", ""],
    ]);
  });

  it("UpdateTag: a label change is a /tags/update with the same digest on both sides; an update that changes nothing writes none", async () => {
    const update = (labels: Record<string, string>, updateMask: string[] = []) =>
      call((cb) => s.metadata.updateTag({ repository: "library/alpine", tag: "Latest", labels, updateMask }, md(), cb));
    await update({ team: "base", tier: "gold" });
    const [event, ...more] = await newEvents();
    expect(more).toEqual([]);
    const digest = digestOf("library/alpine", "Latest");
    expect(brief(event!)).toEqual([
      "/tags/update",
      "library/alpine:Latest",
      digest,
      digest,
      "ARTIFACT_KIND_CONTAINER_IMAGE",
    ]);
    expect(event!.payload?.$case === "tag" && event!.payload.tag.labels).toEqual({ team: "base", tier: "gold" });
    await update({ team: "base", tier: "gold" });
    expect(await newEvents()).toEqual([]);
    // One key removed through the mask: the event carries the labels as they are now.
    await update({}, ["labels.tier"]);
    const [removed] = await newEvents();
    expect(removed!.payload?.$case === "tag" && removed!.payload.tag.labels).toEqual({ team: "base" });
  });

  it("a sync that finds the index already up to date writes only its /sync/finished", async () => {
    await sync();
    const events = await newEvents();
    expect(events).toHaveLength(1);
    finishedLast(events, {
      tagsAdded: 0,
      tagsUpdated: 0,
      tagsRemoved: 0,
      repositoriesAdded: 0,
      repositoriesRemoved: 0,
    });
  });

  it("a namespace's life: /namespaces/create, its index events, its blob rows' /blobs/delete, /namespaces/delete", async () => {
    const root = join(dir, "violet");
    const violet = new RegistryLayout(new DirectoryObjectStore(root, { durable: false }));
    const pushed = await violet.pushManifest("violet/app", "v1", image(31));
    await call((cb) =>
      namespaces.createNamespace({ name: "violet", storageUrl: `file:${root}`, labels: { owner: "ops" } }, md(), cb),
    );
    const relabel = (labels: Record<string, string>) =>
      call((cb) => namespaces.updateNamespace({ name: "violet", labels, updateMask: [] }, md(), cb));
    await relabel({ owner: "dev" });
    await relabel({ owner: "dev" }); // unchanged: no event
    await sync("violet");
    await deleteTag("violet/app", "v1", "violet");
    await call((cb) => namespaces.deleteNamespace({ name: "violet" }, md(), cb));
    // The default namespace's own stream shows none of it.
    expect(await eventsAfter(seen)).toEqual([]);
    const events = await newEvents(true);
    expect(events.every((e) => e.namespace === "violet")).toBe(true);
    // image(31): its config and its one layer (test/helpers/images.ts), in digest order.
    const blobs = [
      [`sha256:${(31).toString(16).padStart(64, "0")}`, 131, OCI_CONFIG],
      [`sha256:${(1031).toString(16).padStart(64, "0")}`, 5031, OCI_LAYER],
    ] as const;
    expect(events.map(brief)).toEqual([
      ["/namespaces/create", "violet", "", "", ""],
      ["/namespaces/update", "violet", "", "", ""],
      ["/repositories/create", "violet/app", "", "", ""],
      ["/tags/create", "violet/app:v1", "", pushed.digest, "ARTIFACT_KIND_CONTAINER_IMAGE"],
      ["/sync/finished", events[4]!.subject, "", "", ""],
      ["/tags/delete", "violet/app:v1", pushed.digest, "", "ARTIFACT_KIND_CONTAINER_IMAGE"],
      ["/repositories/delete", "violet/app", "", "", ""],
      ...blobs.map(([digest]): Brief => ["/blobs/delete", digest, "", "", ""]),
      ["/namespaces/delete", "violet", "", "", ""],
    ]);
    const blobEvents = events.filter((e) => e.topic === "/blobs/delete").map((e) => e.payload);
    expect(blobEvents).toEqual(
      blobs.map(([digest, size, mediaType]) => ({ $case: "blob", blob: { digest, size, mediaType } })),
    );
    expect(events.slice(0, 2).map((e) => e.payload)).toEqual([
      { $case: "namespaceEvent", namespaceEvent: { name: "violet", labels: { owner: "ops" } } },
      { $case: "namespaceEvent", namespaceEvent: { name: "violet", labels: { owner: "dev" } } },
    ]);
  });
});
