import type { ColumnTypes } from "../column-types.js";
import { defineEntity } from "./define.js";

/** An isolated registry root; phase one has the single row `default`. */
export interface NamespaceRow {
  id: number;
  name: string;
  createdAt: Date;
}

export const DEFAULT_NAMESPACE = "default";

export const namespaceEntity = (t: ColumnTypes) =>
  defineEntity<NamespaceRow>("Namespace", "namespaces", {
    columns: {
      id: ["id", t.id()],
      name: ["name", t.key(76)],
      createdAt: ["created_at", t.time()],
    },
    indices: [{ name: "uq_namespaces_name", columns: ["name"], unique: true }],
  });
