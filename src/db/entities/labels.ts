import type { ColumnSpec, ColumnTypes } from "../column-types.js";
import { defineEntity } from "./define.js";

/**
 * Labels (DESIGN.md §8.2), one table per kind of owner, each keyed by its owner's natural unique
 * key and removed with it by a cascading foreign key:
 * - tag labels by (repository_id, tag_name): they belong to the tag's name, so a retag (the
 *   tags row is upserted in place) keeps them, and a tag that leaves the index takes them along;
 * - repository labels by (namespace_id, repository_name), the same way;
 * - namespace labels by namespace_id;
 * - lease labels by (namespace_id, lease_id).
 * Keying by name rather than by the owner's id lets the (…, label_key, value_sha256, name) index
 * serve `labels."k"==v` as one range already in name order: ListTags/ListRepositories page
 * through matching rows only (db/labels/label-filter-sql.ts).
 *
 * `value_sha256` (hex SHA-256 of the value's UTF-8 bytes) stands for the value in indexes: a
 * value may be up to 4095 bytes, more than an InnoDB index key holds (3072 bytes).
 */
export interface LabelValueColumns {
  labelKey: string;
  labelValue: string;
  valueSha256: string;
}

export interface TagLabelRow extends LabelValueColumns {
  repositoryId: number;
  tagName: string;
}

export interface RepositoryLabelRow extends LabelValueColumns {
  namespaceId: number;
  repositoryName: string;
}

export interface NamespaceLabelRow extends LabelValueColumns {
  namespaceId: number;
}

export interface LeaseLabelRow extends LabelValueColumns {
  namespaceId: number;
  leaseId: string;
}

/** A key is 1–1024 bytes of printable ASCII; key + value ≤ 4096 bytes (services/labels/label-rules.ts). */
export const LABEL_KEY_MAX_BYTES = 1024;
export const LABEL_PAIR_MAX_BYTES = 4096;

/** The columns every label table shares, as [column, spec] (shared with the migration). */
export function labelValueColumns(t: ColumnTypes): Record<keyof LabelValueColumns, [string, ColumnSpec]> {
  return {
    labelKey: ["label_key", { ...t.asciiKey(LABEL_KEY_MAX_BYTES), primary: true }],
    // Characters, not bytes: a 4095-byte value is at most 4095 characters.
    labelValue: ["label_value", t.key(LABEL_PAIR_MAX_BYTES - 1)],
    valueSha256: ["value_sha256", t.key(64)],
  };
}

export const tagLabelEntity = (t: ColumnTypes) =>
  defineEntity<TagLabelRow>("TagLabel", "tag_labels", {
    columns: {
      repositoryId: ["repository_id", { ...t.ref(), primary: true }],
      tagName: ["tag_name", { ...t.key(128), primary: true }],
      ...labelValueColumns(t),
    },
    foreignKeys: [
      {
        name: "fk_tag_labels_tag",
        target: "Tag",
        columnNames: ["repositoryId", "tagName"],
        referencedColumnNames: ["repositoryId", "name"],
        onDelete: "CASCADE",
        onUpdate: "NO ACTION",
      },
    ],
    indices: [{ name: "ix_tag_labels_value", columns: ["repositoryId", "labelKey", "valueSha256", "tagName"] }],
  });

export const repositoryLabelEntity = (t: ColumnTypes) =>
  defineEntity<RepositoryLabelRow>("RepositoryLabel", "repository_labels", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      repositoryName: ["repository_name", { ...t.key(255), primary: true }],
      ...labelValueColumns(t),
    },
    foreignKeys: [
      {
        name: "fk_repository_labels_repository",
        target: "Repository",
        columnNames: ["namespaceId", "repositoryName"],
        referencedColumnNames: ["namespaceId", "name"],
        onDelete: "CASCADE",
        onUpdate: "NO ACTION",
      },
    ],
    indices: [
      { name: "ix_repository_labels_value", columns: ["namespaceId", "labelKey", "valueSha256", "repositoryName"] },
    ],
  });

export const namespaceLabelEntity = (t: ColumnTypes) =>
  defineEntity<NamespaceLabelRow>("NamespaceLabel", "namespace_labels", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      ...labelValueColumns(t),
    },
    foreignKeys: [
      {
        name: "fk_namespace_labels_namespace",
        target: "Namespace",
        columnNames: ["namespaceId"],
        referencedColumnNames: ["id"],
        onDelete: "CASCADE",
        onUpdate: "NO ACTION",
      },
    ],
    indices: [{ name: "ix_namespace_labels_value", columns: ["labelKey", "valueSha256", "namespaceId"] }],
  });

export const leaseLabelEntity = (t: ColumnTypes) =>
  defineEntity<LeaseLabelRow>("LeaseLabel", "lease_labels", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      leaseId: ["lease_id", { ...t.key(76), primary: true }],
      ...labelValueColumns(t),
    },
    foreignKeys: [
      {
        name: "fk_lease_labels_lease",
        target: "Lease",
        columnNames: ["namespaceId", "leaseId"],
        referencedColumnNames: ["namespaceId", "id"],
        onDelete: "CASCADE",
        onUpdate: "NO ACTION",
      },
    ],
    indices: [{ name: "ix_lease_labels_value", columns: ["namespaceId", "labelKey", "valueSha256", "leaseId"] }],
  });
