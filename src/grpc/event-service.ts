/** The EventService adapter: unpack, call services/events/event-feed.ts, pack. */
import { Event, type EventServiceServer } from "epoch-meta-client/epoch/v1/event_service";
import type { StoredEvent } from "../db/events/event-store.js";
import { permissionDenied } from "../errors.js";
import type { EventFeed } from "../services/events/event-feed.js";
import { requireUnbounded } from "../services/tokens/repository-bound.js";
import { boundOf } from "./auth.js";
import { serverStream, unary, type CallContext } from "./handlers.js";

export interface EventServiceDeps {
  feed: EventFeed;
  /** The id of the namespace the call acts in. */
  namespaceId(ctx: CallContext): Promise<number>;
  /** Whether the caller may read every namespace (a system admin, or no authentication). */
  isSystemAdmin(ctx: CallContext): boolean;
}

export function eventServiceServer(deps: EventServiceDeps): EventServiceServer {
  const scope = async (allNamespaces: boolean, ctx: CallContext) => {
    // Events name every repository and token of the namespace (DESIGN §2: globs bound every call).
    requireUnbounded(boundOf(ctx.caller), "the event stream");
    if (!allNamespaces) return deps.namespaceId(ctx);
    if (!deps.isSystemAdmin(ctx)) throw permissionDenied("all_namespaces needs a system admin token");
    return undefined;
  };
  return {
    listEvents: unary(async (req, ctx) => {
      const query = { afterId: req.afterId, filter: req.filter, namespaceId: await scope(req.allNamespaces, ctx) };
      const page = await deps.feed.list(query, req);
      return { events: page.events.map(eventToProto), nextPageToken: page.nextPageToken };
    }),
    watchEvents: serverStream(async (req, send, ctx) => {
      const query = { afterId: req.afterId, filter: req.filter, namespaceId: await scope(req.allNamespaces, ctx) };
      for await (const batch of deps.feed.watch(query, ctx.signal))
        for (const event of batch) await send({ event: eventToProto(event) });
    }),
  };
}

/**
 * The stored event as the generated message, built field by field: only the payload (the proto
 * JSON of its oneof case) goes through `fromJSON`. A replay converts every event, and a
 * round-trip of the time through its ISO text cost eight times the rest.
 */
export function eventToProto(e: StoredEvent): Event {
  return {
    id: e.id,
    time: e.time,
    namespace: e.namespace,
    topic: e.topic,
    subject: e.subject,
    payload: Event.fromJSON(e.payload).payload,
  };
}
