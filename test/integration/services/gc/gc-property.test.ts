/**
 * A property test (fast-check) of the collector on SQLite and MariaDB: random interleavings of
 * pushes (blob objects, the manifest, IndexTag — or left for a sync), DeleteTag, leases taken and
 * dropped, syncs, online and full collections, and pushes made while a collection is paused at one
 * of its steps (between the index commit and the deletes too). After every step the invariant
 * holds: every blob and manifest reachable from an indexed, complete tag exists. After a full run
 * with no lease left, nothing unreferenced is left behind.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { imageManifestBytes, seededBytes } from "../../../../src/demo/demo-builder.js";
import { namespaceIdOf } from "../../../../src/db/queries/namespaces.js";
import { isEpochError } from "../../../../src/errors.js";
import { configureLogger } from "../../../../src/logger.js";
import { LeaseService } from "../../../../src/services/leases/lease-service.js";
import type { GcService } from "../../../../src/services/gc/gc-service.js";
import type { GcFaultPoint } from "../../../../src/services/gc/gc-types.js";
import { UNBOUNDED } from "../../../../src/services/tokens/repository-bound.js";
import { forEachDialect } from "../../../helpers/database.js";
import { collector, invariantViolations, leftovers, runGc } from "../../../helpers/gc-harness.js";
import { createSyncHarness, runSync, type SyncHarness } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const ADMIN = { tokenId: undefined, admin: true, bound: UNBOUNDED };
const BLOBS = 3;

type Push = { repo: number; tag: number; blobs: number[]; index: boolean };
type Action =
  | ({ type: "push" } & Push)
  | { type: "delete"; repo: number; tag: number }
  | { type: "sync" }
  | { type: "gc"; full: boolean }
  | { type: "lease"; blobs: number[] }
  | { type: "unlease" }
  | ({ type: "pushDuringGc"; point: GcFaultPoint } & Push);

const blobSet = fc.uniqueArray(fc.integer({ min: 0, max: BLOBS - 1 }), { minLength: 1, maxLength: 3 });
const push = {
  repo: fc.integer({ min: 0, max: 1 }),
  tag: fc.integer({ min: 0, max: 1 }),
  blobs: blobSet,
  index: fc.boolean(),
};
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ type: fc.constant("push" as const), ...push }),
  fc.record({ type: fc.constant("delete" as const), repo: push.repo, tag: push.tag }),
  fc.constant({ type: "sync" as const }),
  fc.record({ type: fc.constant("gc" as const), full: fc.boolean() }),
  fc.record({ type: fc.constant("lease" as const), blobs: blobSet }),
  fc.constant({ type: "unlease" as const }),
  fc.record({
    type: fc.constant("pushDuringGc" as const),
    point: fc.constantFrom<GcFaultPoint>("after-sync", "after-mark", "after-delete-batch"),
    ...push,
  }),
);

forEachDialect("garbage collection property", (dialect) => {
  let h: SyncHarness;
  let gc: GcService;
  let leases: LeaseService;
  let run = 0;
  beforeAll(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    gc = await collector(h, { defaultGracePeriodMs: 0 });
    leases = new LeaseService(h.db, (await namespaceIdOf(h.db, "default"))!);
  });
  afterAll(async () => {
    await h.cleanup();
  });

  it("keeps every reachable object of a complete tag, whatever the interleaving, and leaves nothing after a full run", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 10 }), async (actions) => {
        const n = ++run;
        const held: string[] = [];
        const repo = (i: number) => `run${n}/repo-${i}`;
        const blob = (i: number) => seededBytes(`run${n}-blob-${i}`, 64 + i);

        /** A front end's push: the blobs (again, if they were there), the manifest, then IndexTag. */
        const doPush = async (p: Push) => {
          const descriptors = [];
          for (const i of p.blobs) {
            const { digest, size } = await h.layout.pushBlob(blob(i));
            descriptors.push({ digest, size, mediaType: "application/octet-stream" });
          }
          const bytes = imageManifestBytes({ config: descriptors[0]!, layers: descriptors.slice(1) });
          await h.layout.pushManifest(repo(p.repo), `t${p.tag}`, bytes);
          if (!p.index) return;
          await h.writer.indexTag(repo(p.repo), `t${p.tag}`).catch((e: unknown) => {
            // The collector took (or is taking) a blob: the front end refuses the push; a sync indexes it incomplete.
            if (!(isEpochError(e) && e.reason === "BLOB_UNKNOWN")) throw e;
          });
        };

        for (const a of actions) {
          switch (a.type) {
            case "push":
              await doPush(a);
              break;
            case "delete":
              await h.writer.deleteTag(repo(a.repo), `t${a.tag}`).catch((e: unknown) => {
                if (!(isEpochError(e) && e.kind === "not_found")) throw e;
              });
              break;
            case "sync":
              expect((await runSync(h.sync)).finished.state).not.toBe("FAILED");
              break;
            case "gc":
              expect((await runGc(gc, { full: a.full, gracePeriodMs: 0 })).finished.state).toBe("SUCCEEDED");
              break;
            case "lease": {
              const lease = await leases.create({ id: "", labels: {}, ttlMs: 0 }, ADMIN);
              for (const i of a.blobs) {
                const digest = `sha256:${createHash("sha256").update(blob(i)).digest("hex")}`;
                await leases.addResource(lease.id, { kind: "blob", id: digest }, ADMIN);
              }
              held.push(lease.id);
              break;
            }
            case "unlease": {
              const id = held.shift();
              if (id) await leases.delete(id, ADMIN);
              break;
            }
            case "pushDuringGc": {
              let pushed = false;
              const paused = await collector(h, {
                defaultGracePeriodMs: 0,
                faultPoints: async (p) => {
                  if (p !== a.point || pushed) return;
                  pushed = true;
                  await doPush(a);
                },
              });
              expect((await runGc(paused, { gracePeriodMs: 0 })).finished.state).toBe("SUCCEEDED");
              break;
            }
          }
          expect({ after: a, missing: await invariantViolations(h.db, h.store) }).toEqual({ after: a, missing: [] });
        }

        // Without leases, a sync and a full run leave nothing unreferenced.
        for (const id of held.splice(0)) await leases.delete(id, ADMIN);
        await runSync(h.sync);
        expect((await runGc(gc, { full: true, gracePeriodMs: 0 })).finished.state).toBe("SUCCEEDED");
        expect(await invariantViolations(h.db, h.store)).toEqual([]);
        expect(await leftovers(h.db, h.store)).toEqual([]);
      }),
      { numRuns: Number(process.env.EPOCH_TEST_GC_RUNS ?? (dialect === "sqlite" ? 25 : 12)), endOnFailure: true },
    );
  }, 600_000);
});
