import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { ColumnTypes, tableColumn, type ColumnSpec } from "../column-types.js";
import { labelValueColumns } from "../entities/labels.js";
import { buildTable, dialectOf } from "./1763900000000-initial-schema.js";

/**
 * Leases, their labels and resources, and uploads (DESIGN §8.3, §8.4; why they look like this:
 * entities/content-leases.ts). New tables only.
 */
export class LeasesUploads1766500000000 implements MigrationInterface {
  name = "LeasesUploads1766500000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = new ColumnTypes(dialectOf(queryRunner));
    const pk = (spec: ColumnSpec): ColumnSpec => ({ ...spec, primary: true });
    await queryRunner.createTable(
      buildTable("leases", {
        columns: [
          ["namespace_id", pk(t.ref())],
          ["id", pk(t.key(76))],
          ["owner_token_id", t.ref(true)],
          ["created_at", t.time()],
          ["expires_at", t.time(true)],
        ],
        indices: [["ix_leases_expires_at", ["namespace_id", "expires_at"]]],
        foreignKeys: [["namespace_id", "namespaces", "fk_leases_namespace", "NO ACTION"]],
      }),
    );
    await queryRunner.createTable(
      leaseChild("lease_labels", "fk_lease_labels_lease", {
        columns: [["namespace_id", pk(t.ref())], ["lease_id", pk(t.key(76))], ...Object.values(labelValueColumns(t))],
        index: ["ix_lease_labels_value", ["namespace_id", "label_key", "value_sha256", "lease_id"]],
      }),
    );
    await queryRunner.createTable(
      leaseChild("lease_resources", "fk_lease_resources_lease", {
        columns: [
          ["namespace_id", pk(t.ref())],
          ["lease_id", pk(t.key(76))],
          ["kind", pk(t.key(16))],
          ["resource_id", pk(t.key(128))],
          ["created_at", t.time()],
        ],
        index: ["ix_lease_resources_resource", ["namespace_id", "kind", "resource_id"]],
      }),
    );
    await queryRunner.createTable(
      buildTable("uploads", {
        columns: [
          ["namespace_id", pk(t.ref())],
          ["id", pk(t.key(64))],
          ["repository", t.key(255)],
          ["expected_digest", { ...t.key(71), default: "" }],
          ["lease_id", { ...t.key(76), default: "" }],
          ["state", t.string(16)],
          ["started_at", t.time()],
          ["expires_at", t.time(true)],
          ["digest", { ...t.key(71), default: "" }],
          ["size", t.bigint()],
          ["media_type", t.string(255, false, "")],
          ["committed_at", t.time(true)],
        ],
        indices: [
          ["ix_uploads_state_expires_at", ["namespace_id", "state", "expires_at"]],
          ["ix_uploads_expected_digest", ["namespace_id", "expected_digest"]],
          ["ix_uploads_digest", ["namespace_id", "digest"]],
          ["ix_uploads_lease", ["namespace_id", "lease_id"]],
        ],
        foreignKeys: [["namespace_id", "namespaces", "fk_uploads_namespace", "NO ACTION"]],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const name of ["uploads", "lease_resources", "lease_labels", "leases"])
      await queryRunner.dropTable(name, true);
  }
}

/** A table keyed by its lease (namespace_id, lease_id, …) and removed with it. */
function leaseChild(
  name: string,
  fk: string,
  def: { columns: Array<[string, ColumnSpec]>; index: [string, string[]] },
): Table {
  return new Table({
    name,
    columns: def.columns.map(([column, spec]) => tableColumn(column, spec)),
    indices: [new TableIndex({ name: def.index[0], columnNames: def.index[1] })],
    foreignKeys: [
      new TableForeignKey({
        name: fk,
        columnNames: ["namespace_id", "lease_id"],
        referencedTableName: "leases",
        referencedColumnNames: ["namespace_id", "id"],
        onDelete: "CASCADE",
        onUpdate: "NO ACTION",
      }),
    ],
    engine: "InnoDB",
  });
}
