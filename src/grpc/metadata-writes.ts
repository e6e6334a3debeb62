/**
 * The write side of MetadataService: SyncFromCatalog (server stream), CancelSync,
 * GetSyncStatus, IndexTag, DeleteTag. Thin: unpack, call the service, pack.
 */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import type { MetadataQueries } from "../services/queries/metadata-queries.js";
import type { SyncService } from "../services/sync/sync-service.js";
import type { SyncTrigger } from "../services/sync/sync-types.js";
import type { TagWriter } from "../services/tags/tag-writer.js";
import { tagToProto } from "./convert.js";
import { serverStream, unary, type CallContext } from "./handlers.js";
import { eventToProto, statusToProto } from "./sync-convert.js";

export interface MetadataWriteDeps {
  sync: SyncService;
  tags: TagWriter;
  /** IndexTag answers with the tag as GetTag shows it. */
  queries: MetadataQueries;
}

export type MetadataWriteMethods = "syncFromCatalog" | "cancelSync" | "getSyncStatus" | "indexTag" | "deleteTag";

/** Request metadata the CLI sets so a run's `trigger` says "cli" rather than "api". */
export const SYNC_TRIGGER_METADATA = "epoch-sync-trigger";

export function metadataWriteHandlers(deps: MetadataWriteDeps): Pick<MetadataServiceServer, MetadataWriteMethods> {
  return {
    syncFromCatalog: serverStream(async (req, send, ctx) => {
      const flags = { full: req.full, dryRun: req.dryRun, allowMassRemoval: req.allowMassRemoval };
      const run = await deps.sync.start(flags, triggerOf(ctx));
      try {
        for await (const event of run.events(ctx.signal)) await send(eventToProto(event));
      } catch (e) {
        // The caller went away: it only detaches, the run goes on.
        if (ctx.signal.aborted) return;
        throw e;
      }
    }),
    cancelSync: unary(async (req) => {
      await deps.sync.cancel(req.runId);
      return {};
    }),
    getSyncStatus: unary(async () => statusToProto(await deps.sync.status())),
    indexTag: unary(async (req) => {
      await deps.tags.indexTag(req.repository, req.tag);
      return { tag: tagToProto(await deps.queries.getTag(req.repository, req.tag)) };
    }),
    deleteTag: unary(async (req) => {
      await deps.tags.deleteTag(req.repository, req.tag);
      return {};
    }),
  };
}

function triggerOf(ctx: CallContext): SyncTrigger {
  return ctx.metadata.get(SYNC_TRIGGER_METADATA)[0] === "cli" ? "cli" : "api";
}
