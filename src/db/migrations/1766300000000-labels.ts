import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { ColumnTypes, tableColumn, type ColumnSpec } from "../column-types.js";
import { labelValueColumns } from "../entities/labels.js";
import { dialectOf } from "./1763900000000-initial-schema.js";

/**
 * The label tables (DESIGN.md §8.2; why they look like this: entities/labels.ts). New tables
 * only: every existing row stays as it is, and no owner has labels until one is set.
 */
interface LabelTable {
  name: string;
  owner: Array<[string, ColumnSpec]>;
  fk: { name: string; table: string; columns: string[] };
  index: { name: string; columns: string[] };
}

function labelTables(t: ColumnTypes): LabelTable[] {
  const pk = (spec: ColumnSpec): ColumnSpec => ({ ...spec, primary: true });
  return [
    {
      name: "namespace_labels",
      owner: [["namespace_id", pk(t.ref())]],
      fk: { name: "fk_namespace_labels_namespace", table: "namespaces", columns: ["id"] },
      index: { name: "ix_namespace_labels_value", columns: ["label_key", "value_sha256", "namespace_id"] },
    },
    {
      name: "repository_labels",
      owner: [
        ["namespace_id", pk(t.ref())],
        ["repository_name", pk(t.key(255))],
      ],
      fk: { name: "fk_repository_labels_repository", table: "repositories", columns: ["namespace_id", "name"] },
      index: {
        name: "ix_repository_labels_value",
        columns: ["namespace_id", "label_key", "value_sha256", "repository_name"],
      },
    },
    {
      name: "tag_labels",
      owner: [
        ["repository_id", pk(t.ref())],
        ["tag_name", pk(t.key(128))],
      ],
      fk: { name: "fk_tag_labels_tag", table: "tags", columns: ["repository_id", "name"] },
      index: { name: "ix_tag_labels_value", columns: ["repository_id", "label_key", "value_sha256", "tag_name"] },
    },
  ];
}

export class Labels1766300000000 implements MigrationInterface {
  name = "Labels1766300000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = new ColumnTypes(dialectOf(queryRunner));
    for (const def of labelTables(t)) {
      const ownerColumns = def.owner.map(([column]) => column);
      await queryRunner.createTable(
        new Table({
          name: def.name,
          columns: [...def.owner, ...Object.values(labelValueColumns(t))].map(([column, spec]) =>
            tableColumn(column, spec),
          ),
          indices: [new TableIndex({ name: def.index.name, columnNames: def.index.columns })],
          foreignKeys: [
            new TableForeignKey({
              name: def.fk.name,
              columnNames: ownerColumns,
              referencedTableName: def.fk.table,
              referencedColumnNames: def.fk.columns,
              onDelete: "CASCADE",
              onUpdate: "NO ACTION",
            }),
          ],
          engine: "InnoDB",
        }),
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const def of labelTables(new ColumnTypes(dialectOf(queryRunner))).reverse()) {
      await queryRunner.dropTable(def.name, true);
    }
  }
}
