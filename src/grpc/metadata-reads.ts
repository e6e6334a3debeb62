/**
 * The read RPCs of MetadataService: unpack, call the namespace's services/queries with the
 * caller's repository bound, pack.
 */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import { blobToProto, repositoryToProto, statsToProto, tagToProto } from "./convert.js";
import { boundOf } from "./auth.js";
import { unary, type CallContext } from "./handlers.js";
import type { RuntimeOf } from "./metadata-service.js";

export type MetadataReadMethods =
  "listRepositories" | "getRepository" | "listTags" | "getTag" | "getStats" | "listBlobs" | "getBlob";

export function metadataReadHandlers(runtimeOf: RuntimeOf): Pick<MetadataServiceServer, MetadataReadMethods> {
  const queries = async (ctx: CallContext) => (await runtimeOf(ctx)).queries;
  return {
    listRepositories: unary(async (req, ctx) => {
      const page = await (await queries(ctx)).listRepositories(req, boundOf(ctx.caller));
      return { repositories: page.items.map(repositoryToProto), nextPageToken: page.nextPageToken };
    }),
    getRepository: unary(async (req, ctx) => ({
      repository: repositoryToProto(await (await queries(ctx)).getRepository(req.name, boundOf(ctx.caller))),
    })),
    listTags: unary(async (req, ctx) => {
      const page = await (await queries(ctx)).listTags(req.repository, req, boundOf(ctx.caller));
      return { tags: page.items.map(tagToProto), nextPageToken: page.nextPageToken };
    }),
    getTag: unary(async (req, ctx) => ({
      tag: tagToProto(await (await queries(ctx)).getTag(req.repository, req.tag, boundOf(ctx.caller))),
    })),
    getStats: unary(async (_req, ctx) => statsToProto(await (await queries(ctx)).getStats(boundOf(ctx.caller)))),
    listBlobs: unary(async (req, ctx) => {
      const page = await (await queries(ctx)).listBlobs(req, boundOf(ctx.caller));
      return { blobs: page.items.map(blobToProto), nextPageToken: page.nextPageToken };
    }),
    getBlob: unary(async (req, ctx) => ({
      blob: blobToProto(await (await queries(ctx)).getBlob(req.digest, boundOf(ctx.caller))),
    })),
  };
}
