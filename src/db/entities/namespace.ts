import type { ColumnTypes } from "../column-types.js";
import { defineEntity } from "./define.js";

/** An isolated registry: its own root, repositories, tags, blobs, tokens, sync runs and stats. */
export interface NamespaceRow {
  id: number;
  name: string;
  /** '' = `namespaces/<name>/` under EPOCH_STORAGE_URL (`default`: that root itself). */
  storageUrl: string;
  createdAt: Date;
  updatedAt: Date | null;
}

export const DEFAULT_NAMESPACE = "default";

export const namespaceEntity = (t: ColumnTypes) =>
  defineEntity<NamespaceRow>("Namespace", "namespaces", {
    columns: {
      id: ["id", t.id()],
      name: ["name", t.key(76)],
      storageUrl: ["storage_url", t.string(1024, false, "")],
      createdAt: ["created_at", t.time()],
      updatedAt: ["updated_at", t.time(true)],
    },
    indices: [{ name: "uq_namespaces_name", columns: ["name"], unique: true }],
  });
