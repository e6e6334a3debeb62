/**
 * Where each kind of owner keeps its labels (the tables: entities/labels.ts). An owner is the
 * values of its table's owner columns, in order: a tag is [repository_id, tag_name], a
 * repository [namespace_id, repository_name], a namespace [namespace_id], a lease
 * [namespace_id, lease_id]. A new kind adds its table here and in a migration.
 */
import { createHash } from "node:crypto";

export const LABEL_TABLES = {
  namespace: { table: "namespace_labels", owner: ["namespace_id"], index: "ix_namespace_labels_value" },
  repository: {
    table: "repository_labels",
    owner: ["namespace_id", "repository_name"],
    index: "ix_repository_labels_value",
  },
  tag: { table: "tag_labels", owner: ["repository_id", "tag_name"], index: "ix_tag_labels_value" },
  lease: { table: "lease_labels", owner: ["namespace_id", "lease_id"], index: "ix_lease_labels_value" },
} as const;

export type LabelKind = keyof typeof LABEL_TABLES;

/** The owner columns' values, in LABEL_TABLES order. */
export type LabelOwner = readonly (string | number)[];

/** Labels as a plain object (the proto map's shape); keys are validated before they get here. */
export type Labels = Record<string, string>;

/** The indexed stand-in for a value (values may exceed an index key; see entities/labels.ts). */
export function valueHash(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

export function ownerCondition(kind: LabelKind, alias = ""): string {
  const prefix = alias ? `${alias}.` : "";
  return LABEL_TABLES[kind].owner.map((column) => `${prefix}${column} = ?`).join(" AND ");
}

export function checkOwner(kind: LabelKind, owner: LabelOwner): void {
  if (owner.length !== LABEL_TABLES[kind].owner.length) {
    throw new Error(`a ${kind} label owner has ${LABEL_TABLES[kind].owner.length} values, got ${owner.length}`);
  }
}
