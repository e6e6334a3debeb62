/**
 * The write side of MetadataService: SyncFromCatalog (server stream), CancelSync,
 * GetSyncStatus, IndexTag, DeleteTag. Thin: unpack, check the caller's repository bound, call the
 * service, pack.
 */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import type { SyncTrigger } from "../services/sync/sync-types.js";
import { statusWithin } from "../services/sync/status-view.js";
import { requireRepository, requireUnbounded } from "../services/tokens/repository-bound.js";
import { boundOf } from "./auth.js";
import { tagToProto } from "./convert.js";
import { serverStream, unary, type CallContext } from "./handlers.js";
import type { RuntimeOf } from "./metadata-service.js";
import { eventToProto, statusToProto } from "./sync-convert.js";

export type MetadataWriteMethods = "syncFromCatalog" | "cancelSync" | "getSyncStatus" | "indexTag" | "deleteTag";

/** Request metadata the CLI sets so a run's `trigger` says "cli" rather than "api". */
export const SYNC_TRIGGER_METADATA = "epoch-sync-trigger";

export function metadataWriteHandlers(runtimeOf: RuntimeOf): Pick<MetadataServiceServer, MetadataWriteMethods> {
  return {
    syncFromCatalog: serverStream(async (req, send, ctx) => {
      requireUnbounded(boundOf(ctx.caller), "a catalog sync");
      const flags = { full: req.full, dryRun: req.dryRun, allowMassRemoval: req.allowMassRemoval };
      const run = await (await runtimeOf(ctx)).sync.start(flags, triggerOf(ctx));
      try {
        for await (const event of run.events(ctx.signal)) await send(eventToProto(event));
      } catch (e) {
        // The caller went away: it only detaches, the run goes on.
        if (ctx.signal.aborted) return;
        throw e;
      }
    }),
    cancelSync: unary(async (req, ctx) => {
      requireUnbounded(boundOf(ctx.caller), "a catalog sync");
      await (await runtimeOf(ctx)).sync.cancel(req.runId);
      return {};
    }),
    getSyncStatus: unary(async (_req, ctx) =>
      statusToProto(statusWithin(await (await runtimeOf(ctx)).sync.status(), boundOf(ctx.caller))),
    ),
    indexTag: unary(async (req, ctx) => {
      const bound = boundOf(ctx.caller);
      requireRepository(bound, req.repository);
      const { tags, queries } = await runtimeOf(ctx);
      await tags.indexTag(req.repository, req.tag);
      // IndexTag answers with the tag as GetTag shows it.
      return { tag: tagToProto(await queries.getTag(req.repository, req.tag, bound)) };
    }),
    deleteTag: unary(async (req, ctx) => {
      requireRepository(boundOf(ctx.caller), req.repository);
      await (await runtimeOf(ctx)).tags.deleteTag(req.repository, req.tag);
      return {};
    }),
  };
}

function triggerOf(ctx: CallContext): SyncTrigger {
  return ctx.metadata.get(SYNC_TRIGGER_METADATA)[0] === "cli" ? "cli" : "api";
}
