/** The read RPCs of MetadataService: unpack, call services/queries/metadata-queries.ts, pack. */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import type { MetadataQueries } from "../services/queries/metadata-queries.js";
import { blobToProto, repositoryToProto, statsToProto, tagToProto } from "./convert.js";
import { unary } from "./handlers.js";

export type MetadataReadMethods =
  "listRepositories" | "getRepository" | "listTags" | "getTag" | "getStats" | "listBlobs" | "getBlob";

export function metadataReadHandlers(queries: MetadataQueries): Pick<MetadataServiceServer, MetadataReadMethods> {
  return {
    listRepositories: unary(async (req) => {
      const page = await queries.listRepositories(req);
      return { repositories: page.items.map(repositoryToProto), nextPageToken: page.nextPageToken };
    }),
    getRepository: unary(async (req) => ({ repository: repositoryToProto(await queries.getRepository(req.name)) })),
    listTags: unary(async (req) => {
      const page = await queries.listTags(req.repository, req);
      return { tags: page.items.map(tagToProto), nextPageToken: page.nextPageToken };
    }),
    getTag: unary(async (req) => ({ tag: tagToProto(await queries.getTag(req.repository, req.tag)) })),
    getStats: unary(async () => statsToProto(await queries.getStats())),
    listBlobs: unary(async (req) => {
      const page = await queries.listBlobs(req);
      return { blobs: page.items.map(blobToProto), nextPageToken: page.nextPageToken };
    }),
    getBlob: unary(async (req) => ({ blob: blobToProto(await queries.getBlob(req.digest)) })),
  };
}
