/**
 * The GarbageCollectionService adapter: unpack, call the namespace's GcService, pack. Every method
 * needs `admin` (grpc/auth.ts: unlisted methods do) and a token not bound to some repositories: a
 * collection acts on the whole registry root.
 */
import type { GarbageCollectionServiceServer } from "epoch-meta-client/epoch/v1/gc_service";
import { invalidArgument } from "../errors.js";
import type { GcService } from "../services/gc/gc-service.js";
import type { GcTrigger } from "../services/gc/gc-types.js";
import { requireUnbounded } from "../services/tokens/repository-bound.js";
import { boundOf } from "./auth.js";
import { durationToMs, gcEventToProto, gcStatusToProto } from "./gc-convert.js";
import { serverStream, unary, type CallContext } from "./handlers.js";
import { SYNC_TRIGGER_METADATA } from "./metadata-writes.js";

export type GcOf = (ctx: CallContext) => Promise<GcService>;

export function gcServiceServer(gcOf: GcOf): GarbageCollectionServiceServer {
  return {
    garbageCollect: serverStream(async (req, send, ctx) => {
      requireUnbounded(boundOf(ctx.caller), "a garbage collection");
      const grace = req.gracePeriod;
      if (grace && (grace.seconds < 0 || grace.nanos < 0)) throw invalidArgument("grace_period must not be negative");
      const run = await (
        await gcOf(ctx)
      ).start(
        { dryRun: req.dryRun, full: req.full, ...(grace && { gracePeriodMs: durationToMs(grace) }) },
        triggerOf(ctx),
      );
      try {
        for await (const event of run.events(ctx.signal)) await send(gcEventToProto(event));
      } catch (e) {
        // The caller went away: it only detaches, the run goes on.
        if (ctx.signal.aborted) return;
        throw e;
      }
    }),
    cancelGarbageCollection: unary(async (req, ctx) => {
      requireUnbounded(boundOf(ctx.caller), "a garbage collection");
      await (await gcOf(ctx)).cancel(req.runId);
      return {};
    }),
    getGarbageCollectionStatus: unary(async (_req, ctx) => {
      requireUnbounded(boundOf(ctx.caller), "a garbage collection");
      return gcStatusToProto(await (await gcOf(ctx)).status());
    }),
  };
}

/** The CLI marks its calls (as for a sync) so a run's trigger says "cli". */
function triggerOf(ctx: CallContext): GcTrigger {
  return ctx.metadata.get(SYNC_TRIGGER_METADATA)[0] === "cli" ? "cli" : "api";
}
