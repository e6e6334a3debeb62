/**
 * The read RPCs of MetadataService: unpack, call services/queries/metadata-queries.ts with the
 * caller's repository bound, pack.
 */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import type { MetadataQueries } from "../services/queries/metadata-queries.js";
import { blobToProto, repositoryToProto, statsToProto, tagToProto } from "./convert.js";
import { boundOf } from "./auth.js";
import { unary } from "./handlers.js";

export type MetadataReadMethods =
  "listRepositories" | "getRepository" | "listTags" | "getTag" | "getStats" | "listBlobs" | "getBlob";

export function metadataReadHandlers(queries: MetadataQueries): Pick<MetadataServiceServer, MetadataReadMethods> {
  return {
    listRepositories: unary(async (req, ctx) => {
      const page = await queries.listRepositories(req, boundOf(ctx.caller));
      return { repositories: page.items.map(repositoryToProto), nextPageToken: page.nextPageToken };
    }),
    getRepository: unary(async (req, ctx) => ({
      repository: repositoryToProto(await queries.getRepository(req.name, boundOf(ctx.caller))),
    })),
    listTags: unary(async (req, ctx) => {
      const page = await queries.listTags(req.repository, req, boundOf(ctx.caller));
      return { tags: page.items.map(tagToProto), nextPageToken: page.nextPageToken };
    }),
    getTag: unary(async (req, ctx) => ({
      tag: tagToProto(await queries.getTag(req.repository, req.tag, boundOf(ctx.caller))),
    })),
    getStats: unary(async (_req, ctx) => statsToProto(await queries.getStats(boundOf(ctx.caller)))),
    listBlobs: unary(async (req, ctx) => {
      const page = await queries.listBlobs(req, boundOf(ctx.caller));
      return { blobs: page.items.map(blobToProto), nextPageToken: page.nextPageToken };
    }),
    getBlob: unary(async (req, ctx) => ({ blob: blobToProto(await queries.getBlob(req.digest, boundOf(ctx.caller))) })),
  };
}
