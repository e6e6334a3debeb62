/**
 * UpdateRepository and UpdateTag: unpack, check the caller's repository bound (a write like
 * IndexTag), change the labels in the call's namespace (services/labels), answer with the object
 * as GetRepository/GetTag show it.
 */
import type { MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import { requireRepository } from "../services/tokens/repository-bound.js";
import { boundOf } from "./auth.js";
import { repositoryToProto, tagToProto } from "./convert.js";
import { unary } from "./handlers.js";
import type { RuntimeOf } from "./metadata-service.js";

export type MetadataLabelMethods = "updateRepository" | "updateTag";

export function metadataLabelHandlers(runtimeOf: RuntimeOf): Pick<MetadataServiceServer, MetadataLabelMethods> {
  return {
    updateRepository: unary(async (req, ctx) => {
      const bound = boundOf(ctx.caller);
      requireRepository(bound, req.name);
      const { labels, queries } = await runtimeOf(ctx);
      await labels.updateRepository(req.name, { labels: req.labels, updateMask: req.updateMask ?? [] });
      return { repository: repositoryToProto(await queries.getRepository(req.name, bound)) };
    }),
    updateTag: unary(async (req, ctx) => {
      const bound = boundOf(ctx.caller);
      requireRepository(bound, req.repository);
      const { labels, queries } = await runtimeOf(ctx);
      await labels.updateTag(req.repository, req.tag, { labels: req.labels, updateMask: req.updateMask ?? [] });
      return { tag: tagToProto(await queries.getTag(req.repository, req.tag, bound)) };
    }),
  };
}
