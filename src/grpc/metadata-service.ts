/**
 * The MetadataService adapter: the read handlers (metadata-reads.ts) merged with the write
 * handlers (metadata-writes.ts: sync, IndexTag, DeleteTag) and the label updates
 * (metadata-labels.ts). Every call acts in its namespace's runtime (queries, sync, tag writer,
 * labels), picked from the call's context (namespace-context.ts).
 */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import type { NamespaceRuntime } from "../services/namespaces/namespace-runtimes.js";
import type { CallContext } from "./handlers.js";
import { metadataLabelHandlers } from "./metadata-labels.js";
import { metadataReadHandlers } from "./metadata-reads.js";
import { metadataWriteHandlers } from "./metadata-writes.js";

/** The namespace runtime a call acts in. */
export type RuntimeOf = (ctx: CallContext) => Promise<Pick<NamespaceRuntime, "queries" | "sync" | "tags" | "labels">>;

export function metadataService(runtimeOf: RuntimeOf): MetadataServiceServer {
  return {
    ...metadataWriteHandlers(runtimeOf),
    ...metadataLabelHandlers(runtimeOf),
    ...metadataReadHandlers(runtimeOf),
  };
}
