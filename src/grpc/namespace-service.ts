/** The NamespaceService adapter: unpack, call services/namespaces, pack. System admins only (auth.ts). */
import type {
  Namespace as NamespaceMessage,
  NamespaceServiceServer,
} from "epoch-meta-client/epoch/v1/namespace_service";
import type { Namespace, NamespaceService } from "../services/namespaces/namespace-service.js";
import { unary } from "./handlers.js";

function toNamespaceMessage(n: Namespace): NamespaceMessage {
  return {
    name: n.name,
    storageUrl: n.storageUrl,
    labels: n.labels,
    createTime: n.createTime,
    updateTime: n.updateTime,
  };
}

export function namespaceServiceServer(namespaces: NamespaceService): NamespaceServiceServer {
  return {
    createNamespace: unary(async (req) => ({
      namespace: toNamespaceMessage(
        await namespaces.create({ name: req.name, storageUrl: req.storageUrl, labels: req.labels }),
      ),
    })),
    getNamespace: unary(async (req) => ({ namespace: toNamespaceMessage(await namespaces.get(req.name)) })),
    listNamespaces: unary(async (req) => {
      const page = await namespaces.list(req);
      return { namespaces: page.namespaces.map(toNamespaceMessage), nextPageToken: page.nextPageToken };
    }),
    updateNamespace: unary(async (req) => ({
      namespace: toNamespaceMessage(
        await namespaces.update({ name: req.name, labels: req.labels, updateMask: req.updateMask ?? [] }),
      ),
    })),
    deleteNamespace: unary(async (req) => {
      await namespaces.delete(req.name);
      return {};
    }),
  };
}
