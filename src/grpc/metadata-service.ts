/**
 * The MetadataService adapter: the read handlers (metadata-reads.ts) merged with the write
 * handlers (metadata-writes.ts: sync, IndexTag, DeleteTag) when the composition root provides
 * their collaborators. A method nothing implements answers UNIMPLEMENTED — never made-up data.
 */
import { MetadataServiceService, type MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import type { MetadataQueries } from "../services/queries/metadata-queries.js";
import { unimplementedService } from "./handlers.js";
import { metadataReadHandlers } from "./metadata-reads.js";
import { metadataWriteHandlers, type MetadataWriteDeps } from "./metadata-writes.js";

export interface MetadataServiceDeps {
  queries: MetadataQueries;
  /** The write side's services; without them its methods answer UNIMPLEMENTED. */
  write?: Omit<MetadataWriteDeps, "queries">;
}

export function metadataService(deps: MetadataServiceDeps): MetadataServiceServer {
  return {
    ...(unimplementedService(MetadataServiceService) as MetadataServiceServer),
    ...(deps.write && metadataWriteHandlers({ ...deps.write, queries: deps.queries })),
    ...metadataReadHandlers(deps.queries),
  };
}
