import type { MigrationInterface, QueryRunner } from "typeorm";
import { ColumnTypes } from "../column-types.js";
import { buildTable, dialectOf } from "./1763900000000-initial-schema.js";

/**
 * `tag_tombstones`: the tags DeleteTag removed, with the database time it did. A sync that read
 * the catalog before that time commits none of them (issue #14: a deleted tag must not come back
 * from a sync that fetched it before the delete answered). Pruned by each committing sync.
 */
export class TagTombstones1766100000000 implements MigrationInterface {
  name = "TagTombstones1766100000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = new ColumnTypes(dialectOf(queryRunner));
    await queryRunner.createTable(
      buildTable("tag_tombstones", {
        columns: [
          ["namespace_id", { ...t.ref(), primary: true }],
          ["repository", { ...t.key(255), primary: true }],
          ["tag", { ...t.key(128), primary: true }],
          ["deleted_at", t.time()],
        ],
        indices: [["ix_tag_tombstones_deleted_at", ["namespace_id", "deleted_at"]]],
        foreignKeys: [["namespace_id", "namespaces", "fk_tag_tombstones_namespace", "NO ACTION"]],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("tag_tombstones");
  }
}
